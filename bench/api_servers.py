"""The two servers `bench/api.py` compares — minicvm and moto — as processes on loopback, with a raw
keep-alive HTTP client that signs minicvm requests as the SDK does."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "bench" / "results" / "api.json"

SECRET_ID = "AKIDminicvmBENCHsecretid000000000000"
SECRET_KEY = "minicvmBENCHsecretkey00000000000"
REGION = "ap-guangzhou"
ZONE = "ap-guangzhou-3"
IMAGE = "img-eb30mz89"
INSTANCE_TYPE = "S5.SMALL1"
CVM_VERSION = "2017-03-12"
EC2_VERSION = "2016-11-15"
# moto only needs the credential scope to say `ec2`; the signature itself is never checked.
MOTO_AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ec2/aws4_request, "
             "SignedHeaders=host, Signature=0")
# Outside the 127.65-250.x range the test suite's servers pick their guest networks from, so a bench run next
# to a test run cannot collide on guest addresses (10k guests span about 40 /24s from here).
GUEST_NETWORK = "127.252.0.0"
# Likewise for load balancer VIPs (a server refuses a network another server on the machine holds): outside the
# tests' 127.2-60.x and the default 127.32.0.0 of a `make run` next to it.
CLB_NETWORK = "127.61.0.0"

PAGE = 100
RUN_BATCH = 500  # RunInstances' InstanceCount maximum
REQUEST_TIMEOUT = 600.0  # a single moto describe at 10k, or a 500-instance RunInstances, can be slow
POLL_SECONDS = 0.002  # between state polls while waiting for STOPPED / RUNNING
STATE_TIMEOUT = 60.0
WINDOW_CAP = 180.0  # hard bound on one measurement window, whatever the server's speed

# Targets from issue 2's "Benchmark" section.
TARGET_DESCRIBE_RATIO = 100.0
TARGET_LAST_PAGE_RATIO = 1.2
TARGET_P99_MS = 20.0
TARGET_PAIRS_RATIO = 10.0
TARGET_NO_DROP = 0.9  # "no drop at 10k": within 10 %, because the CPU alone swings more than that
TARGET_RSS_BYTES = 1 << 30




class BenchError(RuntimeError):
    pass


# ---- small helpers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: with few samples (moto) p99 is honestly the slowest one, not an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) from /proc/<pid>/stat. Unlike wall-clock rates this
    barely moves when other work on the machine steals the CPU, so it explains noisy windows."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in bytes from /proc/<pid>/status."""
    result: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                result[key] = int(value.split()[0]) * 1024
    return result


class Conn:
    """One client's HTTP/1.1 connection on a plain socket: one send per request, headers parsed only for
    what matters (status, Content-Length, Connection). http.client spent ~0.3 ms of the bench's own CPU per
    request, as much as a minicvm request costs the server, so at 1 client it measured the client.
    Keep-alive where the server allows it: after a `Connection: close` answer (moto closes every
    connection) the next request opens a new one, and a keep-alive connection the server dropped while
    idle (uvicorn does after 5 s) is retried once — the request never reached the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=REQUEST_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        return sock

    def _read_until(self, sock: socket.socket, marker: bytes) -> int:
        while (at := self.buffer.find(marker)) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the server closed the connection")
            self.buffer += chunk
        return at

    def _exchange(self, sock: socket.socket, request: bytes) -> tuple[int, bytes, bool]:
        sock.sendall(request)
        end = self._read_until(sock, b"\r\n\r\n")
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        self.buffer = self.buffer[end + 4:]
        status = int(head[0].split(" ", 2)[1])
        length, close, chunked = None, head[0].startswith("HTTP/1.0"), False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value == "close"
            elif name == "transfer-encoding":
                chunked = value == "chunked"
        if chunked:
            return status, self._read_chunked(sock), close
        if length is None:  # no length: the body runs to the end of the connection
            while chunk := sock.recv(65536):
                self.buffer += chunk
            body, self.buffer = self.buffer, b""
            return status, body, True
        while len(self.buffer) < length:
            chunk = sock.recv(max(65536, length - len(self.buffer)))
            if not chunk:
                raise ConnectionResetError("the server closed the connection mid-body")
            self.buffer += chunk
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body, close

    def _read_chunked(self, sock: socket.socket) -> bytes:
        body = b""
        while True:
            end = self._read_until(sock, b"\r\n")
            size = int(self.buffer[:end].split(b";")[0], 16)
            self.buffer = self.buffer[end + 2:]
            while len(self.buffer) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionResetError("the server closed the connection mid-body")
                self.buffer += chunk
            body += self.buffer[:size]
            self.buffer = self.buffer[size + 2:]
            if size == 0:
                return body

    def post(self, body: bytes, headers: dict[str, str]) -> bytes:
        if "Host" not in headers:
            headers = {"Host": f"127.0.0.1:{self.port}", **headers}
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"POST / HTTP/1.1\r\n{lines}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        for attempt in range(2):
            fresh = self.sock is None
            if self.sock is None:
                self.sock = self._connect()
            try:
                status, data, close = self._exchange(self.sock, request)
            except (ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt or fresh:
                    raise
                continue
            if close:
                self.close()
            if status != 200:
                raise BenchError(f"HTTP {status} from port {self.port}: {data[:300]!r}")
            return data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# ---- the two servers ---------------------------------------------------------------------------------------


class ServerProcess:
    """A server as a child process in its own session, so that `finally` can end it (and only it) by id."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                         cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                if self.ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not come up within {timeout} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory(self) -> dict[str, int]:
        return proc_status(self.pid)

    def stop(self) -> None:
        """SIGINT for a clean shutdown, then SIGKILL of the child's own process group."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Minicvm(ServerProcess):
    name = "minicvm"
    closes_connections = False

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.host = f"127.0.0.1:{self.port}"
        self._keys: dict[str, bytes] = {}
        self.instance_ids: list[str] = []

    def command(self) -> list[str]:
        return [sys.executable, "-m", "minicvm", "serve", "--port", str(self.port),
                "--data-dir", str(self.workdir / "data"), "--guest-network", GUEST_NETWORK, "--clb-network", CLB_NETWORK,
                "--boot-seconds", "0", "--shutdown-seconds", "0", "--hard-stop-seconds", "0", "--log-level", "warning"]

    def env(self) -> dict[str, str]:
        return dict(os.environ, MINICVM_SECRET_ID=SECRET_ID, MINICVM_SECRET_KEY=SECRET_KEY)

    def ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    # -- TC3-HMAC-SHA256, byte for byte what tencentcloud-sdk-python sends for a POST with a JSON body --

    def _signing_key(self, date: str) -> bytes:
        key = self._keys.get(date)
        if key is None:
            k_date = hmac.new(("TC3" + SECRET_KEY).encode(), date.encode(), hashlib.sha256).digest()
            k_service = hmac.new(k_date, b"cvm", hashlib.sha256).digest()
            key = self._keys[date] = hmac.new(k_service, b"tc3_request", hashlib.sha256).digest()
        return key

    def headers(self, action: str, body: bytes) -> dict[str, str]:
        timestamp = int(time.time())
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        canonical = (f"POST\n/\n\ncontent-type:application/json\nhost:{self.host}\n\ncontent-type;host\n"
                     f"{hashlib.sha256(body).hexdigest()}")
        to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n{date}/cvm/tc3_request\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        signature = hmac.new(self._signing_key(date), to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "Host": self.host,
            "X-TC-Action": action,
            "X-TC-Version": CVM_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": REGION,
            "X-TC-Language": "en-US",
            "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/cvm/tc3_request, "
                             f"SignedHeaders=content-type;host, Signature={signature}",
        }

    def raw(self, conn: Conn, action: str, params: dict[str, Any]) -> bytes:
        body = json.dumps(params).encode()
        return conn.post(body, self.headers(action, body))

    def call(self, conn: Conn, action: str, params: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = json.loads(self.raw(conn, action, params))["Response"]
        if "Error" in response:
            raise BenchError(f"minicvm {action}: {response['Error']}")
        return response

    # -- the job --

    def count(self, conn: Conn, state: str | None = None) -> int:
        params: dict[str, Any] = {"Limit": 1}
        if state:
            params["Filters"] = [{"Name": "instance-state", "Values": [state]}]
        return int(self.call(conn, "DescribeInstances", params)["TotalCount"])

    def populate(self, total: int, budget: float) -> dict[str, Any]:
        conn = Conn(self.port)
        started = time.monotonic()
        try:
            while len(self.instance_ids) < total:
                count = min(RUN_BATCH, total - len(self.instance_ids))
                created = self.call(conn, "RunInstances", {
                    "Placement": {"Zone": ZONE}, "ImageId": IMAGE, "InstanceType": INSTANCE_TYPE,
                    "InstanceCount": count, "InstanceName": "bench",
                    "InternetAccessible": {"InternetMaxBandwidthOut": 0, "PublicIpAssigned": False},
                })["InstanceIdSet"]
                if len(created) != count:
                    raise BenchError(f"RunInstances created {len(created)} instances, asked for {count}")
                self.instance_ids += created
                if time.monotonic() - started > budget:
                    raise BenchError(f"minicvm: populating took more than {budget:.0f} s")
            accepted = time.monotonic() - started
            # Every guest must be up: the RSS figure is "with N live guests".
            while True:
                running = self.count(conn, "RUNNING")
                if running == total:
                    break
                failed = self.count(conn, "LAUNCH_FAILED")
                if failed:
                    raise BenchError(f"minicvm: {failed} instances are LAUNCH_FAILED (see {self.log_path})")
                if time.monotonic() - started > budget:
                    raise BenchError(f"minicvm: only {running}/{total} RUNNING after {budget:.0f} s")
                time.sleep(0.5)
            if self.count(conn) != total:
                raise BenchError("minicvm: TotalCount does not match the instances created")
            # The phase records the total; this says how much of it was RunInstances itself (the rest is booting).
            return {"instances": total, "accepted_seconds": round(accepted, 2)}
        finally:
            conn.close()

    def describe_op(self, page: str, total: int) -> Callable[[Conn], None]:
        offset = 0 if page == "first" else total - PAGE
        body = json.dumps({"Offset": offset, "Limit": PAGE}).encode()
        want = min(PAGE, total)

        def op(conn: Conn) -> None:
            data = conn.post(body, self.headers("DescribeInstances", body))
            # Counting ids in the raw bytes checks the answer without paying a JSON parse in the client.
            if data.count(b'"InstanceId":"ins-') != want:
                raise BenchError(f"minicvm DescribeInstances page {page}: unexpected answer {data[:300]!r}")

        return op

    def state(self, conn: Conn, instance_id: str) -> str:
        found = self.call(conn, "DescribeInstancesStatus", {"InstanceIds": [instance_id]})["InstanceStatusSet"]
        return str(found[0]["InstanceState"]) if found else "MISSING"

    def stop_instance(self, conn: Conn, instance_id: str) -> None:
        self.call(conn, "StopInstances", {"InstanceIds": [instance_id]})

    def start_instance(self, conn: Conn, instance_id: str) -> None:
        self.call(conn, "StartInstances", {"InstanceIds": [instance_id]})

    stopped = "STOPPED"
    running = "RUNNING"


class Moto(ServerProcess):
    name = "moto"
    closes_connections = True

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.instance_ids: list[str] = []
        self.reservation_ids: list[str] = []
        self.ami = ""

    def command(self) -> list[str]:
        exe = Path(sys.executable).parent / "moto_server"
        return [str(exe) if exe.exists() else "moto_server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/moto-api/")
            return conn.getresponse().status < 500
        finally:
            conn.close()

    headers = {"Authorization": MOTO_AUTH, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    def raw(self, conn: Conn, action: str, params: dict[str, Any]) -> bytes:
        body = urlencode({"Action": action, "Version": EC2_VERSION, **params}).encode()
        data = conn.post(body, self.headers)
        if b"<Errors>" in data[:400]:
            raise BenchError(f"moto {action}: {data[:400]!r}")
        return data

    def pick_ami(self) -> str:
        conn = Conn(self.port)
        try:
            data = self.raw(conn, "DescribeImages", {})
        finally:
            conn.close()
        found = re.search(rb"<imageId>(ami-[0-9a-f]+)</imageId>", data)
        if not found:
            raise BenchError(f"moto DescribeImages returned no image: {data[:300]!r}")
        self.ami = found.group(1).decode()
        return self.ami

    def populate(self, total: int, budget: float) -> dict[str, Any]:
        """One instance per RunInstances, because moto's MaxResults counts reservations."""
        conn = Conn(self.port)
        started = time.monotonic()
        begin = len(self.instance_ids)
        try:
            while len(self.instance_ids) < total:
                data = self.raw(conn, "RunInstances", {"ImageId": self.ami, "MinCount": 1, "MaxCount": 1,
                                                       "InstanceType": "t2.micro"})
                reservation = re.search(rb"<reservationId>(r-[0-9a-f]+)</reservationId>", data)
                instance = re.search(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", data)
                if not reservation or not instance:
                    raise BenchError(f"moto RunInstances: unexpected answer {data[:300]!r}")
                self.reservation_ids.append(reservation.group(1).decode())
                self.instance_ids.append(instance.group(1).decode())
                elapsed = time.monotonic() - started
                if elapsed > budget:
                    done = len(self.instance_ids) - begin
                    return {"instances": len(self.instance_ids), "complete": False,
                            "projected_seconds": round(elapsed * (total - begin) / max(1, done), 1)}
            return {"instances": total, "complete": True}
        finally:
            conn.close()

    def describe_op(self, page: str, total: int) -> Callable[[Conn], None]:
        params: dict[str, Any] = {"MaxResults": PAGE}
        if page == "last":
            # NextToken is the id of the last reservation of the previous page (moto keeps creation order).
            params["NextToken"] = self.reservation_ids[total - PAGE - 1]
        body = urlencode({"Action": "DescribeInstances", "Version": EC2_VERSION, **params}).encode()
        want = min(PAGE, total)

        def op(conn: Conn) -> None:
            data = conn.post(body, self.headers)
            if data.count(b"<instanceId>") != want:
                raise BenchError(f"moto DescribeInstances page {page}: unexpected answer {data[:300]!r}")

        return op

    def check_last_page(self, total: int) -> None:
        """The last-page token really gives the last 100 instances and no further page."""
        conn = Conn(self.port)
        try:
            data = self.raw(conn, "DescribeInstances",
                            {"MaxResults": PAGE, "NextToken": self.reservation_ids[total - PAGE - 1]})
        finally:
            conn.close()
        ids = re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", data)
        if b"<nextToken>" in data or [i.decode() for i in ids] != self.instance_ids[total - PAGE: total]:
            raise BenchError("moto: the NextToken of the last page does not give the last 100 instances")

    _state_re = re.compile(rb"<instanceState>\s*<code>\d+</code>\s*<name>(\w+)</name>")

    def state(self, conn: Conn, instance_id: str) -> str:
        data = self.raw(conn, "DescribeInstances", {"InstanceId.1": instance_id})
        found = self._state_re.search(data)
        return found.group(1).decode() if found else "missing"

    def stop_instance(self, conn: Conn, instance_id: str) -> None:
        self.raw(conn, "StopInstances", {"InstanceId.1": instance_id})

    def start_instance(self, conn: Conn, instance_id: str) -> None:
        self.raw(conn, "StartInstances", {"InstanceId.1": instance_id})

    stopped = "stopped"
    running = "running"


System = Minicvm | Moto


