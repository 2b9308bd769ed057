"""Exhaustion without credentials: idle, half-sent, slow-body and huge-header connections, and more
connections than the server will hold, while a signed client keeps working. Real sockets on loopback."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY

HOSTILE = 10_000  # idle sockets held open at once in the big test (the fd limit allowing)


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True once the server has closed the connection (after whatever it answered)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True  # reset
    return True


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib * 1024


@pytest.fixture
def fds() -> Iterator[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_slow_and_silent_connections_are_closed(make_server) -> None:
    srv = make_server(header_timeout=1, body_timeout=1, idle_timeout=1)
    idle = [connect(srv.port) for _ in range(100)]
    half = [connect(srv.port) for _ in range(100)]
    for sock in half:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    slow_body = [connect(srv.port) for _ in range(20)]
    for sock in slow_body:
        sock.sendall(b"POST /console/api/call HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    kept_alive = connect(srv.port)
    kept_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    start = time.monotonic()
    for sock in [*idle, *half, *slow_body, kept_alive]:
        assert closed_by_server(sock, within=10), "a connection outlived every timeout"
        sock.close()
    assert time.monotonic() - start < 10
    assert Api(srv.endpoint, SECRET_ID, SECRET_KEY).cvm("DescribeRegions")["TotalCount"] == 3


def test_headers_and_bodies_are_bounded(make_server) -> None:
    srv = make_server()
    rss_before = rss_bytes(srv.proc.pid)
    for _ in range(4):
        sock = connect(srv.port)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        sent = 0
        with pytest.raises(OSError):
            while sent < 100 << 20:  # 100 MiB of one header, unless the server hangs up first
                sock.sendall(b"a" * 65536)
                sent += 65536
        assert sent < 8 << 20
        sock.close()
    sock = connect(srv.port)
    sock.sendall(b"POST /console/api/call HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(OSError):
        for _ in range(2000):  # 128 MiB in chunks unless refused
            sock.sendall(b"10000\r\n" + b"b" * 65536 + b"\r\n")
    sock.close()
    assert rss_bytes(srv.proc.pid) - rss_before < 64 << 20


def test_connection_cap_closes_extras_and_says_so(make_server) -> None:
    srv = make_server(max_connections=50, header_timeout=2)
    held = [connect(srv.port) for _ in range(80)]
    time.sleep(0.5)
    extras = [s for s in held if closed_by_server(s, within=0.2)]
    assert len(extras) >= 25, len(extras)
    for sock in held:
        sock.close()
    time.sleep(0.5)
    assert "connection cap reached" in srv.log_path.read_text()
    assert Api(srv.endpoint, SECRET_ID, SECRET_KEY).cvm("DescribeRegions")["TotalCount"] == 3


def test_api_answers_while_thousands_of_hostile_sockets_are_open(make_server, fds: int) -> None:
    count = min(HOSTILE, fds - 1000)  # this process holds one end of each; the server the other
    srv = make_server(header_timeout=300)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    [instance_id] = api.run(1)
    hostile = []
    try:
        for n in range(count):
            sock = connect(srv.port)
            if n % 10 == 0:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # half a request
            hostile.append(sock)
        stop = threading.Event()

        def push_huge_headers() -> None:  # meanwhile, endless headers on fresh connections
            while not stop.is_set():
                with contextlib.suppress(OSError), connect(srv.port) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ")
                    for _ in range(128):
                        sock.sendall(b"a" * 65536)

        pushers = [threading.Thread(target=push_huge_headers, daemon=True) for _ in range(2)]
        for t in pushers:
            t.start()
        latencies = []
        try:
            for _ in range(20):
                start = time.perf_counter()
                assert api.instance(instance_id)["InstanceState"] == "RUNNING"
                latencies.append(time.perf_counter() - start)
        finally:
            stop.set()
            for t in pushers:
                t.join(30)
        assert max(latencies) < 5, latencies
        still_open = sum(1 for s in hostile[:200] if not closed_by_server(s, within=0.01))
        assert still_open == 200  # they really were held while the API answered
    finally:
        for sock in hostile:
            sock.close()
    print(f"signed requests answered with {count} hostile sockets open; p50 "
          f"{sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms")
