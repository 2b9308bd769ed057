"""The CLB data plane moving bytes: TCP splicing, draining under load, HTTP/1.1 keep-alive, chunked and
streamed bodies, and releasing every socket. Real sockets on loopback, each test on its own 127.88.N.0/24."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from pathlib import Path

import pytest

from minicvm.dataplane import ApplyError, Backend, DataPlane, Health, HealthCheckConfig
from minicvm.dataplane.http1 import ChunkedScanner
from tests.support.dataplane import (
    FAST,
    OFF,
    Backendish,
    Client,
    eventually,
    fetch,
    guest_backend,
    http_listener,
    instance_of,
    make_guest,
    run,
    tcp_listener,
)


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
            await eventually(lambda: all(m.health == Health.ALIVE for m in plane.metrics() if m.backend_key))
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
        await eventually(lambda: all(m.health == Health.ALIVE for m in plane.metrics() if m.backend_key))
        await plane.drain("ins-u1", timeout=1)
        assert {instance_of((await fetch(f"{net}.1", 8000))[1]) for _ in range(6)} == {"ins-u0"}
        backs[1].health_status = 500  # it reports unhealthy now: undrain must not let it back in
        plane.undrain("ins-u1", rejoin_after_health=True)
        await asyncio.sleep(0.5)
        assert {instance_of((await fetch(f"{net}.1", 8000))[1]) for _ in range(6)} == {"ins-u0"}
        backs[1].health_status = 200
        await eventually(lambda: plane.health("lbl-http0001", "loc-00000001", "ins-u1:8080") == Health.ALIVE)
        names = {instance_of((await fetch(f"{net}.1", 8000))[1]) for _ in range(6)}
        assert names == {"ins-u0", "ins-u1"}
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


def test_chunked_scanner_finds_the_end_across_splits() -> None:
    body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    for split in range(1, len(body)):
        scanner = ChunkedScanner()
        used1, p1 = scanner.feed(body[:split], decode=True)
        assert used1 == split or scanner.done
        used2, p2 = scanner.feed(body[used1:], decode=True)
        assert scanner.done and used1 + used2 == len(body) - 4
        assert b"".join(p1 + p2) == b"Wikipedia"
