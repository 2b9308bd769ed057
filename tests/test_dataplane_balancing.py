"""The CLB data plane choosing backends: weights and schedulers, health checks, 502 without checks,
routing, weight 0 and the all-dead policy. Real sockets on loopback, each test on its own 127.88.N.0/24."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from minicvm.dataplane import Backend, DataPlane, Health, HealthCheckConfig, Route
from minicvm.dataplane.balancer import Pool
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
        assert plane.health("lbl-http0001", "loc-00000001", key) in (Health.UNKNOWN, Health.ALIVE)
        await eventually(lambda: all(plane.health("lbl-http0001", "loc-00000001", guest_backend(g).key) == Health.ALIVE
                                     for g in guests))
        guests[1].power_off()
        await eventually(lambda: plane.health("lbl-http0001", "loc-00000001", key) == Health.DEAD)
        # Dead gets no new requests: everything succeeds and avoids it.
        statuses = [await fetch(f"{net}.1", 8000) for _ in range(30)]
        assert all(s == 200 for s, _ in statuses)
        assert key.split(":")[0] not in {instance_of(b) for _, b in statuses}
        guests[1] = make_guest("ins-h0000001", f"{net}.12", tmp_path)
        await guests[1].listen()
        await eventually(lambda: plane.health("lbl-http0001", "loc-00000001", key) == Health.ALIVE)
        alive, dead = Health.ALIVE, Health.DEAD
        assert [c for c in changes if c[0] == key] == [(key, Health.UNKNOWN, alive), (key, alive, dead), (key, dead, alive)]
        row = next(m for m in plane.metrics() if m.backend_key == key)
        assert row.health == Health.ALIVE and row.health_transitions == 3
        # Unknown or missing targets read as Unknown; an L4-style lookup without location also works.
        assert plane.health("lbl-http0001", "loc-00000001", "ins-nope:1") == Health.UNKNOWN
        assert plane.health("lbl-nope", None, key) == Health.UNKNOWN
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
        assert plane.health("lbl-http0001", "loc-00000001", guest_backend(guests[0]).key) == Health.CLOSE
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
        await status_with(FAST, Health.DEAD)  # 2xx only
        await status_with(HealthCheckConfig(**{**FAST.__dict__, "http_code_mask": 8}), Health.ALIVE)  # 4xx accepted
        host_check = {**FAST.__dict__, "http_path": "/host-check", "http_method": "GET"}
        await status_with(HealthCheckConfig(**host_check), Health.DEAD)
        await status_with(HealthCheckConfig(**{**host_check, "http_domain": "svc.example"}), Health.ALIVE)
        await status_with(HealthCheckConfig(**{**FAST.__dict__, "check_type": "TCP", "check_port": 8081}), Health.ALIVE)
        await other.stop()
        await status_with(HealthCheckConfig(**{**FAST.__dict__, "check_type": "TCP", "check_port": 8081}), Health.DEAD)
        await plane.close()
        await back.stop()

    run(main())


def test_weight_zero_takes_a_backend_out_and_keeps_its_health(net: str) -> None:
    async def main() -> None:
        backs = [await Backendish(f"ins-z{i}", f"{net}.{11 + i}").start() for i in range(2)]
        changes: list[tuple[str, str, str]] = []
        plane = DataPlane(lambda lid, loc, key, old, new: changes.append((key, old, new)))
        await plane.apply([http_listener(f"{net}.1", tuple(b.backend() for b in backs), FAST)])
        await eventually(lambda: all(m.health == Health.ALIVE for m in plane.metrics() if m.backend_key))
        await plane.apply([http_listener(f"{net}.1", (backs[0].backend(), backs[1].backend(0)), FAST)])
        assert {instance_of((await fetch(f"{net}.1", 8000))[1]) for _ in range(8)} == {"ins-z0"}
        # Updating the weight did not reset the target's health (no second Unknown -> Alive).
        assert plane.health("lbl-http0001", "loc-00000001", "ins-z1:8080") == Health.ALIVE
        assert changes.count(("ins-z1:8080", Health.UNKNOWN, Health.ALIVE)) == 1
        await plane.close()
        for b in backs:
            await b.stop()

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
        await eventually(lambda: all(m.health == Health.DEAD for m in plane.metrics() if m.backend_key))
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
    assert a.status == Health.DEAD and {pool.pick("x") for _ in range(4)} == {b}
    pool.record(b, True)
    pool.record(b, True)
    assert b.status == Health.ALIVE and {pool.pick("x") for _ in range(4)} == {b}


