"""What CAM costs a sub-user (issue 16): server CPU of the same calls made with the root key and with a
sub-user's key whose 20 attached policies allow them (one by tag condition, 19 that never match).

The calls, on 100 instances tagged env=dev:

* DescribeInstances, Limit 100 (one page of all of them);
* StopInstances of all 100 in one request, then StartInstances of all 100, each followed by polling (with the
  root key, for both) until every instance is there: the figure is server CPU per stop+start pair, including
  the work the runner does after answering.

Root and sub-user windows alternate and every figure is the median of `--runs`, since this machine's CPU speed
swings. Server CPU is read from /proc (user + system, every thread), so other load on the machine moves it
little.

    .venv/bin/python bench/cam.py            # 5 runs
    .venv/bin/python bench/cam.py --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_servers import REGION, SECRET_ID, SECRET_KEY, ZONE, Conn, Minicvm, cpu_seconds, median  # noqa: E402

VERSIONS = {"cvm": "2017-03-12", "cam": "2019-01-16"}
COUNT = 100
DESCRIBES = 1000  # one /proc tick is 10 ms: 0.01 ms per request at this count
PAIRS = 3
DECOYS = 19


class Signer:
    def __init__(self, host: str, secret_id: str, secret_key: str) -> None:
        self.host, self.secret_id, self.secret_key = host, secret_id, secret_key

    def headers(self, service: str, action: str, body: bytes) -> dict[str, str]:
        timestamp = int(time.time())
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        canonical = (f"POST\n/\n\ncontent-type:application/json\nhost:{self.host}\n\ncontent-type;host\n"
                     f"{hashlib.sha256(body).hexdigest()}")
        to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        key = hmac.new(("TC3" + self.secret_key).encode(), date.encode(), hashlib.sha256).digest()
        key = hmac.new(key, service.encode(), hashlib.sha256).digest()
        key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", "Host": self.host, "X-TC-Action": action,
                "X-TC-Version": VERSIONS[service], "X-TC-Timestamp": str(timestamp), "X-TC-Region": REGION,
                "Authorization": f"TC3-HMAC-SHA256 Credential={self.secret_id}/{date}/{service}/tc3_request, "
                                 f"SignedHeaders=content-type;host, Signature={signature}"}

    def call(self, conn: Conn, service: str, action: str, **params: Any) -> dict[str, Any]:
        body = json.dumps(params).encode()
        response: dict[str, Any] = json.loads(conn.post(body, self.headers(service, action, body)))["Response"]
        if "Error" in response:
            raise RuntimeError(f"{action}: {response['Error']}")
        return response


def _policy(statement: dict[str, Any]) -> str:
    return json.dumps({"version": "2.0", "statement": [statement]})


def setup(server: Minicvm, conn: Conn) -> tuple[Signer, list[str]]:
    root = Signer(server.host, SECRET_ID, SECRET_KEY)
    ids = root.call(conn, "cvm", "RunInstances", Placement={"Zone": ZONE}, ImageId="img-eb30mz89",
                    InstanceType="S5.SMALL1", InstanceCount=COUNT,
                    TagSpecification=[{"ResourceType": "instance", "Tags": [{"Key": "env", "Value": "dev"}]}]
                    )["InstanceIdSet"]
    wait(root, conn, ids, "RUNNING")
    user = root.call(conn, "cam", "AddUser", Name="bench", UseApi=1)
    documents = [_policy({"effect": "allow", "action": ["cvm:StopInstances", "cvm:StartInstances", "cvm:Describe*"],
                          "resource": "*",
                          "condition": {"for_any_value:string_equal": {"qcs:resource_tag": ["env&dev"]}}}),
                 _policy({"effect": "allow", "action": "cvm:DescribeInstances", "resource": "*"})]
    documents += [_policy({"effect": "allow", "action": ["cvm:StopInstances", "clb:Describe*"],
                           "resource": f"qcs::cvm:ap-beijing::instance/ins-decoy{n:03d}"}) for n in range(DECOYS - 1)]
    for n, document in enumerate(documents):
        policy_id = root.call(conn, "cam", "CreatePolicy", PolicyName=f"bench{n}", PolicyDocument=document)["PolicyId"]
        root.call(conn, "cam", "AttachUserPolicy", PolicyId=policy_id, AttachUin=user["Uin"])
    return Signer(server.host, user["SecretId"], user["SecretKey"]), ids


def wait(root: Signer, conn: Conn, ids: list[str], state: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = root.call(conn, "cvm", "DescribeInstancesStatus", InstanceIds=ids, Limit=COUNT)["InstanceStatusSet"]
        if all(s["InstanceState"] == state for s in found):
            return
        time.sleep(0.01)
    raise RuntimeError(f"instances did not reach {state}: {sorted({s['InstanceState'] for s in found})}")


def describe_cpu_ms(server: Minicvm, signer: Signer, conn: Conn) -> float:
    before = cpu_seconds(server.pid)
    for _ in range(DESCRIBES):
        signer.call(conn, "cvm", "DescribeInstances", Limit=COUNT)
    return (cpu_seconds(server.pid) - before) * 1000 / DESCRIBES


def pair_cpu_ms(server: Minicvm, signer: Signer, root: Signer, conn: Conn, ids: list[str]) -> float:
    before = cpu_seconds(server.pid)
    for _ in range(PAIRS):
        signer.call(conn, "cvm", "StopInstances", InstanceIds=ids, StopType="SOFT")
        wait(root, conn, ids, "STOPPED")
        signer.call(conn, "cvm", "StartInstances", InstanceIds=ids)
        wait(root, conn, ids, "RUNNING")
    return (cpu_seconds(server.pid) - before) * 1000 / PAIRS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args(argv).runs
    with tempfile.TemporaryDirectory(prefix="minicvm-bench-cam-") as tmp:
        server = Minicvm(Path(tmp))
        server.start()
        conn = Conn(server.port)
        try:
            sub, ids = setup(server, conn)
            root = Signer(server.host, SECRET_ID, SECRET_KEY)
            figures: dict[str, dict[str, list[float]]] = {"root": {"describe": [], "pair": []},
                                                          "sub-user": {"describe": [], "pair": []}}
            for run in range(runs):
                order = [("root", root), ("sub-user", sub)]
                for name, signer in order if run % 2 == 0 else order[::-1]:
                    figures[name]["describe"].append(describe_cpu_ms(server, signer, conn))
                    figures[name]["pair"].append(pair_cpu_ms(server, signer, root, conn, ids))
        finally:
            conn.close()
            server.stop()
    print(f"server CPU, median of {runs} runs ({COUNT} instances; sub-user with {DECOYS + 1} policies)")
    print(f"{'':10} {'DescribeInstances ms/req':>26} {'stop+start of 100 ms':>22}")
    for name in ("root", "sub-user"):
        print(f"{name:10} {median(figures[name]['describe']):26.2f} {median(figures[name]['pair']):22.1f}")
    for what in ("describe", "pair"):
        ratio = median(figures["sub-user"][what]) / median(figures["root"][what])
        print(f"sub-user / root, {what}: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
