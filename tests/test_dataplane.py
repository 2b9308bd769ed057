"""The CLB data plane in-process, with real sockets on loopback: sim guests and small asyncio servers
as backends, raw HTTP/1.x clients in front. Every test gets its own 127.88.N.0/24 so ports can be
fixed; health checks run at 0.1 s so state changes come quickly, but waits are generous."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop

from minicvm.dataplane import (
    ALIVE,
    CLOSE,
    DEAD,
    UNKNOWN,
    ApplyError,
    Backend,
    DataPlane,
    HealthCheckConfig,
    ListenerConfig,
    Route,
)
from minicvm.dataplane.balancer import Pool
from minicvm.dataplane.http1 import ChunkedScanner
from minicvm.drivers.base import DiskSpec, GuestSpec
from minicvm.drivers.sim.guest import Guest

_subnets = itertools.count(1)
FAST = HealthCheckConfig(True, "HTTP", interval=0.1, timeout=0.08, healthy_threshold=2, unhealthy_threshold=2,
                         http_path="/healthz", http_code_mask=2)
OFF = HealthCheckConfig(False, "TCP", 5, 2, 3, 3)


def run(coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    # The server runs the data plane on uvloop, whose transports differ in small ways: test on it.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bounded())


@pytest.fixture
def net() -> str:
    """A /24 of loopback addresses for this test: backends .11-.19, VIPs .1-.9."""
    return f"127.88.{next(_subnets)}"


# -- backends ----------------------------------------------------------------------------------------

class Backendish:
    """A small HTTP/1.1 server: JSON echo of what it received, plus paths with special behaviour."""

    def __init__(self, name: str, host: str, port: int = 8080) -> None:
        self.name, self.host, self.port = name, host, port
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.release = asyncio.Event()
        self.health_status = 200
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def backend(self, weight: int = 10) -> Backend:
        return Backend(f"{self.name}:{self.port}", self.name, self.host, self.port, weight)

    async def start(self) -> Backendish:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.add(writer)
        try:
            while True:
                method, path, headers, body = await read_request(reader)
                if path == "/healthz":
                    writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n" % self.health_status)
                    continue
                self.requests.append({"method": method, "path": path, "headers": headers, "body": body})
                if path == "/stream":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
                    await writer.drain()
                    await self.release.wait()
                    writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
                    continue
                if path == "/slow":
                    await self.release.wait()
                if path.startswith("/big/"):
                    size = int(path[5:])
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                    for _ in range(size // 65536):
                        writer.write(b"z" * 65536)
                        await writer.drain()
                    writer.write(b"z" * (size % 65536))
                    continue
                if path == "/upload":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(str(len(body))), len(body)))
                    continue
                if path.startswith("/host-check"):
                    ok = headers.get("host") == "svc.example"
                    writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n" % (200 if ok else 403))
                    continue
                payload = json.dumps({"name": self.name, "path": path, "headers": headers,
                                      "body": body.decode("latin-1")}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(payload), payload))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    method, path, _ = head[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    return method, path, headers, body


def make_guest(instance_id: str, host: str, tmp: Path, port: int = 8080) -> Guest:
    disk = DiskSpec("disk-" + instance_id[4:], 1, True)
    return Guest(GuestSpec(instance_id, host, port, 1, 1, (disk,)), {disk.disk_id: tmp / instance_id}, 1 << 20)


def guest_backend(guest: Guest, weight: int = 10) -> Backend:
    spec = guest.spec
    return Backend(f"{spec.instance_id}:{spec.port}", spec.instance_id, spec.host, spec.port, weight)


# -- clients -----------------------------------------------------------------------------------------

class Client:
    """One keep-alive HTTP/1.x client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int, source: str | None = None) -> Client:
        reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0) if source else None)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def response(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        headers = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if head_only:
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    return status, headers, body
                body += chunk[:-2]
        if "content-length" in headers:
            return status, headers, await self.reader.readexactly(int(headers["content-length"]))
        return status, headers, await self.reader.read()

    async def get(self, path: str = "/", headers: str = "") -> tuple[int, dict[str, str], bytes]:
        await self.send(f"GET {path} HTTP/1.1\r\nHost: lb.test\r\n{headers}\r\n".encode())
        return await self.response()

    def close(self) -> None:
        self.writer.transport.abort()


async def fetch(host: str, port: int, path: str = "/", source: str | None = None) -> tuple[int, bytes]:
    client = await Client.open(host, port, source)
    try:
        status, _, body = await client.get(path, "Connection: close\r\n")
        return status, body
    finally:
        client.close()


def http_listener(vip: str, backends: tuple[Backend, ...], health: HealthCheckConfig = OFF, port: int = 8000,
                  scheduler: str = "WRR", policy: str = "fail_open", listener_id: str = "lbl-http0001",
                  routes: tuple[Route, ...] | None = None) -> ListenerConfig:
    if routes is None:
        routes = (Route("loc-00000001", "", "/", scheduler, health, backends),)
    return ListenerConfig(listener_id, "lb-00000001", "HTTP", vip, port, "WRR", None, (), routes, policy)


def tcp_listener(vip: str, backends: tuple[Backend, ...], health: HealthCheckConfig | None = None, port: int = 9000,
                 policy: str = "fail_open") -> ListenerConfig:
    return ListenerConfig("lbl-tcp00001", "lb-00000001", "TCP", vip, port, "WRR", health or OFF, backends, (), policy)


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10, step: float = 0.02) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


def instance_of(body: bytes) -> str:
    data = json.loads(body)
    return data.get("InstanceId") or data["name"]


# -- tests -------------------------------------------------------------------------------------------

def test_weights_spread_traffic_smoothly(net: str) -> None:
    async def main() -> None:
        backs = [await Backendish(f"ins-w{i}", f"{net}.{11 + i}").start() for i in range(3)]
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", tuple(b.backend(w) for b, w in zip(backs, (1, 2, 5), strict=True)))])
        client = await Client.open(f"{net}.1", 8000)
        seen = [instance_of((await client.get())[2]) for _ in range(80)]
        assert {n: seen.count(n) for n in set(seen)} == {"ins-w0": 10, "ins-w1": 20, "ins-w2": 50}
        # Smooth: the heavy backend never takes more than a couple in a row.
        assert max(len(list(g)) for _, g in itertools.groupby(seen)) <= 2
        # Keep-alive to backends: 80 requests over one client connection reuse pooled connections.
        assert sum(b.connections for b in backs) <= 6
        client.close()
        rows = {(m.backend_key or "listener"): m for m in plane.metrics()}
        assert rows["listener"].requests == 80 and rows["ins-w2:8080"].requests == 50
        await plane.close()
        for b in backs:
            await b.stop()

    run(main())


def test_least_conn_and_ip_hash(net: str) -> None:
    async def main() -> None:
        backs = [await Backendish(f"ins-s{i}", f"{net}.{11 + i}").start() for i in range(3)]
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", tuple(b.backend() for b in backs), scheduler="LEAST_CONN")])
        # Three requests held open land on three different backends; a fourth goes to the least busy one.
        held = [await Client.open(f"{net}.1", 8000) for _ in range(3)]
        for c in held:
            await c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await eventually(lambda: sum(len(b.requests) for b in backs) == 3)
        assert sorted(len(b.requests) for b in backs) == [1, 1, 1]
        for b in backs:
            b.release.set()
        for c in held:
            assert (await c.response())[0] == 200
            c.close()

        ip_hash = http_listener(f"{net}.1", tuple(b.backend() for b in backs), scheduler="IP_HASH")
        await plane.apply([ip_hash])
        by_source: dict[str, set[str]] = {}
        for i in range(12):
            source = f"{net}.{100 + i}"
            for _ in range(3):
                by_source.setdefault(source, set()).add(instance_of((await fetch(f"{net}.1", 8000, source=source))[1]))
        assert all(len(names) == 1 for names in by_source.values())  # sticky per client IP
        assert len(set.union(*by_source.values())) >= 2  # and spread across clients
        await plane.close()
        for b in backs:
            await b.stop()

    run(main())


def test_health_dead_after_failures_and_alive_after_recovery(net: str, tmp_path: Path) -> None:
    async def main() -> None:
        guests = [make_guest(f"ins-h000000{i}", f"{net}.{11 + i}", tmp_path) for i in range(3)]
        for g in guests:
            await g.listen()
        changes: list[tuple[str, str, str]] = []
        plane = DataPlane(lambda lid, loc, key, old, new: changes.append((key, old, new)))
        await plane.apply([http_listener(f"{net}.1", tuple(guest_backend(g) for g in guests), FAST)])
        key = guest_backend(guests[1]).key
        assert plane.health("lbl-http0001", "loc-00000001", key) in (UNKNOWN, ALIVE)
        await eventually(lambda: all(plane.health("lbl-http0001", "loc-00000001", guest_backend(g).key) == ALIVE
                                     for g in guests))
        guests[1].power_off()
        await eventually(lambda: plane.health("lbl-http0001", "loc-00000001", key) == DEAD)
        # Dead gets no new requests: everything succeeds and avoids it.
        statuses = [await fetch(f"{net}.1", 8000) for _ in range(30)]
        assert all(s == 200 for s, _ in statuses)
        assert key.split(":")[0] not in {instance_of(b) for _, b in statuses}
        guests[1] = make_guest("ins-h0000001", f"{net}.12", tmp_path)
        await guests[1].listen()
        await eventually(lambda: plane.health("lbl-http0001", "loc-00000001", key) == ALIVE)
        assert [c for c in changes if c[0] == key] == [(key, UNKNOWN, ALIVE), (key, ALIVE, DEAD), (key, DEAD, ALIVE)]
        row = next(m for m in plane.metrics() if m.backend_key == key)
        assert row.health == ALIVE and row.health_transitions == 3
        # Unknown or missing targets read as Unknown; an L4-style lookup without location also works.
        assert plane.health("lbl-http0001", "loc-00000001", "ins-nope:1") == UNKNOWN
        assert plane.health("lbl-nope", None, key) == UNKNOWN
        await plane.close()
        for g in guests:
            g.power_off()

    run(main())


def test_no_health_check_means_502_for_the_stopped_backend(net: str, tmp_path: Path) -> None:
    async def main() -> None:
        guests = [make_guest(f"ins-n000000{i}", f"{net}.{11 + i}", tmp_path) for i in range(3)]
        for g in guests:
            await g.listen()
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", tuple(guest_backend(g) for g in guests))])
        assert plane.health("lbl-http0001", "loc-00000001", guest_backend(guests[0]).key) == CLOSE
        client = await Client.open(f"{net}.1", 8000)
        assert [(await client.get())[0] for _ in range(6)] == [200] * 6
        guests[2].power_off()
        results = [(await client.get())[0] for _ in range(30)]
        # Equal weights, round robin: exactly every third request hits the dead backend, and the client
        # connection survives each 502 (keep-alive).
        assert results.count(502) == 10 and results.count(200) == 20
        row = next(m for m in plane.metrics() if m.backend_key == guest_backend(guests[2]).key)
        assert row.responses_5xx == 10 and row.backend_errors == 10
        client.close()
        await plane.close()
        for g in guests[:2]:
            g.power_off()

    run(main())


def test_http_check_path_code_mask_domain_and_port(net: str) -> None:
    async def main() -> None:
        back = await Backendish("ins-c0000001", f"{net}.11").start()
        other = await Backendish("ins-c0000001", f"{net}.11", 8081).start()  # the check port
        plane = DataPlane()

        async def status_with(health: HealthCheckConfig, expect: str) -> None:
            await plane.apply([http_listener(f"{net}.1", (back.backend(),), health)])
            await eventually(lambda: plane.health("lbl-http0001", "loc-00000001", back.backend().key) == expect)
            await plane.apply([])

        back.health_status = 404
        await status_with(FAST, DEAD)  # 2xx only
        await status_with(HealthCheckConfig(**{**FAST.__dict__, "http_code_mask": 8}), ALIVE)  # 4xx accepted
        host_check = {**FAST.__dict__, "http_path": "/host-check", "http_method": "GET"}
        await status_with(HealthCheckConfig(**host_check), DEAD)
        await status_with(HealthCheckConfig(**{**host_check, "http_domain": "svc.example"}), ALIVE)
        await status_with(HealthCheckConfig(**{**FAST.__dict__, "check_type": "TCP", "check_port": 8081}), ALIVE)
        await other.stop()
        await status_with(HealthCheckConfig(**{**FAST.__dict__, "check_type": "TCP", "check_port": 8081}), DEAD)
        await plane.close()
        await back.stop()

    run(main())


def test_tcp_splice_half_close_and_refused_backend(net: str) -> None:
    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read()  # until the client's FIN
            writer.write(b"echo:" + data)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, f"{net}.11", 7000)
        good = Backend("ins-t0000001:7000", "ins-t0000001", f"{net}.11", 7000, 10)
        plane = DataPlane()
        await plane.apply([tcp_listener(f"{net}.1", (good,))])
        reader, writer = await asyncio.open_connection(f"{net}.1", 9000)
        writer.write(b"x" * 200_000)
        writer.write_eof()
        assert await reader.read() == b"echo:" + b"x" * 200_000
        writer.close()

        dead = Backend("ins-t0000002:7000", "ins-t0000002", f"{net}.12", 7000, 10)  # nothing listens there
        await plane.apply([tcp_listener(f"{net}.1", (dead,))])
        reader, writer = await asyncio.open_connection(f"{net}.1", 9000)
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        rows = [m for m in plane.metrics() if m.backend_key == dead.key]
        assert rows[0].backend_errors == 1 and rows[0].requests == 1
        await plane.close()
        server.close()

    run(main())


def test_tcp_drain_waits_for_open_connections(net: str) -> None:
    async def main() -> None:
        async def hello(name: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(name)
            await reader.read()  # hold the connection until the client closes it
            writer.close()

        servers = [await asyncio.start_server(lambda r, w, n=n: hello(n, r, w), f"{net}.{11 + i}", 7000)
                   for i, n in enumerate((b"A", b"B"))]
        backends = tuple(Backend(f"ins-{n}:7000", f"ins-{n}", f"{net}.{11 + i}", 7000, 10)
                         for i, n in enumerate("AB"))
        plane = DataPlane()
        await plane.apply([tcp_listener(f"{net}.1", backends)])
        conns = [await asyncio.open_connection(f"{net}.1", 9000) for _ in range(2)]
        names = [await r.readexactly(1) for r, _ in conns]
        assert sorted(names) == [b"A", b"B"]
        on_a = conns[names.index(b"A")]
        drain = asyncio.create_task(plane.drain("ins-A", timeout=10))
        await asyncio.sleep(0.2)
        assert not drain.done()  # a connection to A is still open
        for _ in range(4):  # no new connection goes to A
            reader, writer = await asyncio.open_connection(f"{net}.1", 9000)
            assert await reader.readexactly(1) == b"B"
            writer.close()
        on_a[1].close()
        await asyncio.wait_for(drain, 5)
        plane.undrain("ins-A", rejoin_after_health=False)
        seen = set()
        for _ in range(4):
            reader, writer = await asyncio.open_connection(f"{net}.1", 9000)
            seen.add(await reader.readexactly(1))
            writer.close()
        assert seen == {b"A", b"B"}
        for _, w in conns:
            w.close()
        await plane.close()
        for server in servers:
            server.close()

    run(main())


async def load(host: str, port: int, stop: asyncio.Event, workers: int = 8) -> tuple[int, int, list[str]]:
    ok = failed = 0
    seen: list[str] = []

    async def worker() -> None:
        nonlocal ok, failed
        client = await Client.open(host, port)
        while not stop.is_set():
            try:
                status, _, body = await client.get()
            except (ConnectionError, asyncio.IncompleteReadError):
                failed += 1
                client.close()
                client = await Client.open(host, port)
                continue
            if status == 200:
                ok += 1
                seen.append(instance_of(body))
            else:
                failed += 1
        client.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return ok, failed, seen


@pytest.mark.parametrize("health", [OFF, FAST], ids=["no-health-check", "health-check"])
def test_drain_under_load_then_power_off_fails_nothing(net: str, tmp_path: Path, health: HealthCheckConfig) -> None:
    async def main() -> None:
        guests = [make_guest(f"ins-d000000{i}", f"{net}.{11 + i}", tmp_path) for i in range(3)]
        for g in guests:
            await g.listen()
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", tuple(guest_backend(g) for g in guests), health)])
        if health.enabled:
            await eventually(lambda: all(m.health == ALIVE for m in plane.metrics() if m.backend_key))
        stop = asyncio.Event()
        task = asyncio.create_task(load(f"{net}.1", 8000, stop))
        await asyncio.sleep(0.3)
        await plane.drain("ins-d0000002", timeout=5)
        before = next(m.requests for m in plane.metrics() if m.backend_key == "ins-d0000002:8080")
        guests[2].power_off()
        await asyncio.sleep(0.5)
        after = next(m.requests for m in plane.metrics() if m.backend_key == "ins-d0000002:8080")
        assert after == before  # no new request reached the drained backend
        # Back on, undrained: it rejoins (after HealthNum successes when checks are on).
        guests[2] = make_guest("ins-d0000002", f"{net}.13", tmp_path)
        await guests[2].listen()
        plane.undrain("ins-d0000002", rejoin_after_health=True)
        await eventually(lambda: next(m.requests for m in plane.metrics()
                                      if m.backend_key == "ins-d0000002:8080") > after)
        stop.set()
        ok, failed, seen = await task
        assert failed == 0 and ok > 100
        assert "ins-d0000002" in seen
        await plane.close()
        for g in guests:
            g.power_off()

    run(main())


def test_undrain_waits_for_health_when_asked(net: str) -> None:
    async def main() -> None:
        backs = [await Backendish(f"ins-u{i}", f"{net}.{11 + i}").start() for i in range(2)]
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", tuple(b.backend() for b in backs), FAST)])
        await eventually(lambda: all(m.health == ALIVE for m in plane.metrics() if m.backend_key))
        await plane.drain("ins-u1", timeout=1)
        assert {instance_of((await fetch(f"{net}.1", 8000))[1]) for _ in range(6)} == {"ins-u0"}
        backs[1].health_status = 500  # it reports unhealthy now: undrain must not let it back in
        plane.undrain("ins-u1", rejoin_after_health=True)
        await asyncio.sleep(0.5)
        assert {instance_of((await fetch(f"{net}.1", 8000))[1]) for _ in range(6)} == {"ins-u0"}
        backs[1].health_status = 200
        await eventually(lambda: plane.health("lbl-http0001", "loc-00000001", "ins-u1:8080") == ALIVE)
        names = {instance_of((await fetch(f"{net}.1", 8000))[1]) for _ in range(6)}
        assert names == {"ins-u0", "ins-u1"}
        await plane.close()
        for b in backs:
            await b.stop()

    run(main())


def test_weight_zero_takes_a_backend_out_and_keeps_its_health(net: str) -> None:
    async def main() -> None:
        backs = [await Backendish(f"ins-z{i}", f"{net}.{11 + i}").start() for i in range(2)]
        changes: list[tuple[str, str, str]] = []
        plane = DataPlane(lambda lid, loc, key, old, new: changes.append((key, old, new)))
        await plane.apply([http_listener(f"{net}.1", tuple(b.backend() for b in backs), FAST)])
        await eventually(lambda: all(m.health == ALIVE for m in plane.metrics() if m.backend_key))
        await plane.apply([http_listener(f"{net}.1", (backs[0].backend(), backs[1].backend(0)), FAST)])
        assert {instance_of((await fetch(f"{net}.1", 8000))[1]) for _ in range(8)} == {"ins-z0"}
        # Updating the weight did not reset the target's health (no second Unknown -> Alive).
        assert plane.health("lbl-http0001", "loc-00000001", "ins-z1:8080") == ALIVE
        assert changes.count(("ins-z1:8080", UNKNOWN, ALIVE)) == 1
        await plane.close()
        for b in backs:
            await b.stop()

    run(main())


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_apply_add_update_remove_releases_sockets(net: str) -> None:
    async def main() -> None:
        back = await Backendish("ins-a0000001", f"{net}.11").start()
        plane = DataPlane()
        first = http_listener(f"{net}.1", (back.backend(),))
        second = tcp_listener(f"{net}.2", (Backend("ins-a0000001:8080", "ins-a0000001", f"{net}.11", 8080, 10),))
        await plane.apply([first, second])
        assert sorted(plane.listeners()) == ["lbl-http0001", "lbl-tcp00001"]
        assert (await fetch(f"{net}.1", 8000))[0] == 200
        held = await Client.open(f"{net}.1", 8000)
        assert (await held.get())[0] == 200
        # Move the HTTP listener to another port; the old one must be free (and its clients closed).
        await plane.apply([http_listener(f"{net}.1", (back.backend(),), port=8001), second])
        assert await held.reader.read() == b""
        probe = await asyncio.start_server(lambda r, w: None, f"{net}.1", 8000)
        probe.close()
        assert (await fetch(f"{net}.1", 8001))[0] == 200
        # A port that is taken surfaces as ApplyError naming the listener; the rest still applies.
        blocker = socket.socket()
        blocker.bind((f"{net}.3", 8000))
        blocker.listen()
        with pytest.raises(ApplyError) as err:
            await plane.apply([http_listener(f"{net}.3", (back.backend(),), listener_id="lbl-busy0001"), second])
        assert list(err.value.failures) == ["lbl-busy0001"]
        assert plane.listeners() == ["lbl-tcp00001"]
        blocker.close()
        await plane.apply([])
        assert plane.listeners() == []
        for vip, port in ((f"{net}.1", 8001), (f"{net}.2", 9000)):
            s = await asyncio.start_server(lambda r, w: None, vip, port)
            s.close()
        await plane.close()
        await back.stop()

    run(main())


def test_close_releases_every_socket_and_task(net: str, tmp_path: Path) -> None:
    async def main() -> None:
        guest = make_guest("ins-f0000001", f"{net}.11", tmp_path)
        await guest.listen()
        await asyncio.sleep(0)
        before = fd_count()
        tasks_before = len(asyncio.all_tasks())
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", (guest_backend(guest),), FAST),
                           tcp_listener(f"{net}.1", (guest_backend(guest),), FAST)])
        clients = [await Client.open(f"{net}.1", 8000) for _ in range(4)]
        for c in clients:
            assert (await c.get())[0] == 200
        reader, writer = await asyncio.open_connection(f"{net}.1", 9000)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in await reader.readuntil(b"\r\n\r\n")
        assert fd_count() > before
        await plane.close()
        for c in clients:
            assert await c.reader.read() == b""
            c.writer.close()
        writer.close()
        guest.power_off()
        await asyncio.sleep(0.1)
        assert len(asyncio.all_tasks()) == tasks_before
        # Our own test clients and the guest are gone too, so every descriptor must be back.
        await eventually(lambda: fd_count() <= before - 1, timeout=5)

    run(main())


def test_keepalive_xff_chunked_streaming_and_http10(net: str) -> None:
    async def main() -> None:
        back = await Backendish("ins-k0000001", f"{net}.11").start()
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", (back.backend(),))])
        client = await Client.open(f"{net}.1", 8000)
        status, _, body = await client.get("/a", "X-Forwarded-For: 203.0.113.7\r\nConnection: keep-alive\r\n")
        seen = json.loads(body)["headers"]
        assert status == 200 and seen["x-forwarded-for"] == f"203.0.113.7, {client.writer.get_extra_info('sockname')[0]}"
        assert "connection" not in seen or seen["connection"].lower() != "keep-alive"
        # Chunked request body, split across writes, arrives re-framed but intact.
        await client.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await asyncio.sleep(0.05)
        await client.send(b"6\r\n world\r\n0\r\n\r\n")
        status, _, body = await client.response()
        assert status == 200 and json.loads(body)["body"] == "hello world"
        # Content-Length body.
        await client.send(b"PUT /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        assert json.loads((await client.response())[2])["body"] == "abc"
        # Chunked response is streamed: the first chunk reaches us while the backend still holds the rest.
        await client.send(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = await client.response(head_only=True)
        assert headers["transfer-encoding"] == "chunked"
        assert await asyncio.wait_for(client.reader.readuntil(b"first\r\n"), 5) == b"5\r\nfirst\r\n"
        back.release.set()
        assert await client.reader.readuntil(b"0\r\n\r\n") == b"6\r\nsecond\r\n0\r\n\r\n"
        # Pipelined requests are answered in order on the same connection.
        await client.send(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert json.loads((await client.response())[2])["path"] == "/p1"
        assert json.loads((await client.response())[2])["path"] == "/p2"
        assert back.connections <= 2  # all of it over pooled backend connections
        # Connection: close is honoured.
        status, headers, _ = await client.get("/bye", "Connection: close\r\n")
        assert headers.get("connection") == "close" and await client.reader.read() == b""
        client.close()
        # HTTP/1.0 client: a chunked backend response is de-chunked and delimited by close.
        old = await Client.open(f"{net}.1", 8000)
        await old.send(b"GET /stream HTTP/1.0\r\n\r\n")
        status, headers, body = await old.response()
        assert status == 200 and "transfer-encoding" not in headers and body == b"firstsecond"
        old.close()
        # HTTP/1.0 with keep-alive and a Content-Length response stays open.
        old = await Client.open(f"{net}.1", 8000)
        for _ in range(2):
            await old.send(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _ = await old.response()
            assert status == 200 and headers["connection"] == "keep-alive"
        old.close()
        # HEAD: the head describes the GET, no body follows, and the connection stays usable.
        head = await Client.open(f"{net}.1", 8000)
        await head.send(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = await head.response(head_only=True)
        assert status == 200 and int(headers["content-length"]) > 0
        assert (await head.get("/after-head"))[0] == 200
        head.close()
        # Garbage gets a 400 and a close.
        bad = await Client.open(f"{net}.1", 8000)
        await bad.send(b"NOT HTTP\r\n\r\n")
        assert (await bad.response())[0] == 400
        bad.close()
        await plane.close()
        await back.stop()

    run(main())


def test_large_bodies_stream_both_ways_with_a_slow_reader(net: str) -> None:
    async def main() -> None:
        back = await Backendish("ins-b0000001", f"{net}.11").start()
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", (back.backend(),))])
        client = await Client.open(f"{net}.1", 8000)
        size = 24 << 20
        await client.send(b"GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        _, headers, _ = await client.response(head_only=True)
        received = 0
        while received < size:  # read slowly at first so the proxy has to pause the backend
            chunk = await client.reader.read(65536)
            assert chunk
            received += len(chunk)
            if received < (2 << 20):
                await asyncio.sleep(0.001)
        assert received == size == int(headers["content-length"])
        upload = 16 << 20
        client.writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % upload)
        for _ in range(upload // (1 << 20)):
            client.writer.write(b"u" * (1 << 20))
            await client.writer.drain()
        status, _, body = await client.response()
        assert status == 200 and int(body) == upload
        assert (await client.get())[0] == 200  # still in step afterwards
        client.close()
        await plane.close()
        await back.stop()

    run(main())


def test_routes_by_domain_and_longest_prefix(net: str) -> None:
    async def main() -> None:
        a, b, c = [await Backendish(f"ins-r{i}", f"{net}.{11 + i}").start() for i in range(3)]
        routes = (Route("loc-any", "", "/", "WRR", OFF, (a.backend(),)),
                  Route("loc-api", "", "/api", "WRR", OFF, (b.backend(),)),
                  Route("loc-dom", "shop.example", "/", "WRR", OFF, (c.backend(),)),
                  Route("loc-wild", "*.img.example", "/", "WRR", OFF, (b.backend(),)))
        plane = DataPlane()
        await plane.apply([http_listener(f"{net}.1", (), routes=routes)])
        client = await Client.open(f"{net}.1", 8000)

        async def who(path: str, host: str) -> str | int:
            await client.send(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status, _, body = await client.response()
            return instance_of(body) if status == 200 else status

        assert await who("/", "other") == "ins-r0"
        assert await who("/api/v1", "other") == "ins-r1"
        assert await who("/api/v1", "SHOP.example:8000") == "ins-r2"
        assert await who("/", "a.img.example") == "ins-r1"
        await plane.apply([http_listener(f"{net}.1", (), routes=routes[2:3])])
        assert await who("/", "other") == 404
        client.close()
        await plane.close()
        for x in (a, b, c):
            await x.stop()

    run(main())


@pytest.mark.parametrize("policy", ["fail_open", "fail_closed"])
def test_all_dead_policy(net: str, policy: str) -> None:
    async def main() -> None:
        backs = [await Backendish(f"ins-x{i}", f"{net}.{11 + i}").start() for i in range(2)]
        for b in backs:
            b.health_status = 500  # checks fail, but the service itself still answers
        plane = DataPlane()
        keys = tuple(b.backend() for b in backs)
        await plane.apply([http_listener(f"{net}.1", keys, FAST, policy=policy), tcp_listener(f"{net}.1", keys, FAST,
                                                                                                policy=policy)])
        await eventually(lambda: all(m.health == DEAD for m in plane.metrics() if m.backend_key))
        status, _ = await fetch(f"{net}.1", 8000)
        reader, writer = await asyncio.open_connection(f"{net}.1", 9000)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            tcp_answer = await asyncio.wait_for(reader.read(100), 5)
        except ConnectionError:
            tcp_answer = b""
        writer.close()
        if policy == "fail_open":
            assert status == 200 and tcp_answer.startswith(b"HTTP/1.1 200")
        else:
            assert status == 503 and tcp_answer == b""
        await plane.close()
        for b in backs:
            await b.stop()

    run(main())


def test_fail_open_prefers_unknown_over_dead() -> None:
    pool = Pool("lbl-1", None, "WRR", FAST, "fail_open", None, lambda _: None, set())
    pool.set_backends((Backend("a:1", "a", "127.0.0.1", 1, 10), Backend("b:1", "b", "127.0.0.1", 2, 10)))
    a, b = pool.members["a:1"], pool.members["b:1"]
    assert {pool.pick("x") for _ in range(4)} == {a, b}  # both Unknown: fail-open to both
    pool.record(a, False)
    pool.record(a, False)
    assert a.status == DEAD and {pool.pick("x") for _ in range(4)} == {b}
    pool.record(b, True)
    pool.record(b, True)
    assert b.status == ALIVE and {pool.pick("x") for _ in range(4)} == {b}


def test_chunked_scanner_finds_the_end_across_splits() -> None:
    body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    for split in range(1, len(body)):
        scanner = ChunkedScanner()
        used1, p1 = scanner.feed(body[:split], decode=True)
        assert used1 == split or scanner.done
        used2, p2 = scanner.feed(body[used1:], decode=True)
        assert scanner.done and used1 + used2 == len(body) - 4
        assert b"".join(p1 + p2) == b"Wikipedia"
