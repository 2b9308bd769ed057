"""The other official SDKs on the wire (Node.js, Go, Java), as they were measured: Node.js signs the Host
without its port, Node.js and Java name the scope's service after the endpoint's first label (`127`), Java
signs `application/json; charset=utf-8`, Go sends `X-Tc-…` header names. Each is checked against test vectors
computed from those SDKs' canonical requests and then live against a real server."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from minicvm import services
from minicvm.api.signing import expected_signature, without_port
from minicvm.services.registry import SERVICES
from tests.support.server import SECRET_ID, SECRET_KEY

VECTOR = dict(secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", signed_headers=("content-type", "host"),
              timestamp="1551113065", date="2019-02-25", method="POST", query="",
              body=b'{"InstanceIds":["ins-12345678"],"StopType":"SOFT"}')


@pytest.mark.parametrize(("sdk", "host", "content_type", "scope", "signature"), [
    ("node", "127.0.0.1", "application/json", "127",
     "841238fe235ccb903eaaa2d37caa0e1fb4989e05b6001027132e33164e0b4d62"),
    ("go", "127.0.0.1:4566", "application/json", "cvm",
     "2a74fdf8c7ed351149eac3c739e5ac617f517d39a8f0e9d3bafa5077432fd927"),
    ("java", "127.0.0.1:4566", "application/json; charset=utf-8", "127",
     "c56c344c109e3b65000e7b138e198cd5ab46539ac0e2561e0033030f91a042ac"),
])
def test_spec_vectors_of_other_sdks(sdk: str, host: str, content_type: str, scope: str, signature: str) -> None:
    got = expected_signature(headers={"content-type": content_type, "host": host}, service=scope, **VECTOR)
    assert got == signature, sdk


def test_port_is_dropped_only_where_there_is_one() -> None:
    assert without_port("127.0.0.1:4566") == "127.0.0.1"
    assert without_port("http://127.0.0.1:4566") == "http://127.0.0.1"
    assert without_port("[::1]:4566") == "[::1]"
    assert without_port("127.0.0.1") is None
    assert without_port("::1") is None


def test_action_names_are_unique_across_services() -> None:
    # A scope that names no service (`127`) is routed by the action: that needs every action in one service.
    services.load()
    counts = Counter(action for svc in SERVICES.values() for action in svc.actions)
    assert [a for a, n in counts.items() if n > 1] == []
    assert {"cvm", "cbs", "vpc", "clb", "as", "sts", "tag"} <= set(SERVICES)


def sdk_request(server, *, action: str, version: str, body: dict, sdk: str, region: str | None = "ap-guangzhou",
                sign_host: str | None = None, secret_key: str = SECRET_KEY) -> httpx.Response:
    """A POST signed the way `sdk` signs it, sent as that SDK sends it."""
    ts = int(time.time())
    date = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
    raw = json.dumps(body, separators=(",", ":")).encode()
    sent_host = server.endpoint
    content_type = "application/json; charset=utf-8" if sdk == "java" else "application/json"
    scope = {"node": "127", "java": "127", "go": {"2018-08-13": "sts"}.get(version, "cvm")}[sdk]
    if sign_host is None:
        sign_host = server.endpoint.split(":")[0] if sdk == "node" else sent_host
    sig = expected_signature(secret_key=secret_key, method="POST", query="",
                             headers={"content-type": content_type, "host": sign_host},
                             signed_headers=("content-type", "host"), body=raw, timestamp=str(ts), date=date,
                             service=scope)
    prefix = "X-Tc-" if sdk == "go" else "X-TC-"
    headers = {"Content-Type": content_type, "Host": sent_host,
               "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/{scope}/tc3_request, "
                                f"SignedHeaders=content-type;host, Signature={sig}",
               f"{prefix}Action": action, f"{prefix}Version": version, f"{prefix}Timestamp": str(ts),
               f"{prefix}{'Requestclient' if sdk == 'go' else 'RequestClient'}": f"SDK_{sdk.upper()}_test"}
    if region is not None:
        headers[f"{prefix}Region"] = region
    return httpx.post(server.url, content=raw, headers=headers, timeout=10)


def response(resp: httpx.Response) -> dict:
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    return resp.json()["Response"]


@pytest.mark.parametrize("sdk", ["node", "go", "java"])
def test_each_sdk_is_accepted_and_routed(server, sdk: str) -> None:
    zones = response(sdk_request(server, action="DescribeZones", version="2017-03-12", body={}, sdk=sdk))
    assert "Error" not in zones, zones
    assert zones["TotalCount"] >= 1
    # STS is global: no region configured means no X-TC-Region header.
    who = response(sdk_request(server, action="GetCallerIdentity", version="2018-08-13", body={}, sdk=sdk, region=None))
    assert "Error" not in who, who
    assert who["Type"] == "CAMUser"


def test_java_sends_an_empty_region_to_global_services(server) -> None:
    who = response(sdk_request(server, action="GetCallerIdentity", version="2018-08-13", body={}, sdk="java", region=""))
    assert "Error" not in who, who


def test_signatures_are_still_checked(server) -> None:
    bad_key = response(sdk_request(server, action="DescribeZones", version="2017-03-12", body={}, sdk="node",
                                   secret_key="x" * 32))
    assert bad_key["Error"]["Code"] == "AuthFailure.SignatureFailure"
    # Dropping the port is the only liberty: another host name still fails.
    other_host = response(sdk_request(server, action="DescribeZones", version="2017-03-12", body={}, sdk="node",
                                      sign_host="localhost"))
    assert other_host["Error"]["Code"] == "AuthFailure.SignatureFailure"


def test_routing_by_action_when_the_scope_names_no_service(server) -> None:
    unknown = response(sdk_request(server, action="NoSuchThing", version="2017-03-12", body={}, sdk="node"))
    assert unknown["Error"]["Code"] == "InvalidAction"
    wrong_version = response(sdk_request(server, action="DescribeZones", version="2020-01-01", body={}, sdk="java"))
    assert wrong_version["Error"]["Code"] == "NoSuchVersion"
    missing_region = response(sdk_request(server, action="DescribeZones", version="2017-03-12", body={}, sdk="node",
                                          region=None))
    assert missing_region["Error"]["Code"] == "MissingParameter"
