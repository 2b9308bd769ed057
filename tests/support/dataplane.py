"""Helpers for the data plane tests: small backends (sim guests and asyncio servers), raw HTTP/1.x
clients, listener configs and a uvloop runner. Health checks run at 0.1 s so state changes come quickly."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from minicvm.dataplane import (
    Backend,
    HealthCheckConfig,
    ListenerConfig,
    Route,
)
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
