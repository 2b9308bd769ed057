"""The CLB data plane: listeners bound on their VIPs, their pools, health checkers and draining.

The control plane owns the desired state and calls `apply` with all of it whenever it changes; the
data plane never reads the store or the API itself. Everything runs on the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from minicvm.dataplane.balancer import HealthCallback, Member, Pool
from minicvm.dataplane.health import default_domain, start_checker, stop_checker
from minicvm.dataplane.httpproxy import UPSTREAM_IDLE_TIMEOUT, HttpFrontend, Upstreams
from minicvm.dataplane.model import ApplyError, Backend, Health, HealthCheckConfig, ListenerConfig, MetricsSample
from minicvm.dataplane.tcpproxy import TcpFrontend

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 1.0


def _host_only(host: bytes) -> bytes:
    if host.startswith(b"["):
        return host[: host.find(b"]") + 1].lower()
    return host.partition(b":")[0].lower()


class ListenerRuntime:
    """One bound listener: its server socket, client connections, pools and routing table."""

    def __init__(self, plane: DataPlane, config: ListenerConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.plane = plane
        self.loop = loop
        self.config = config
        self.server: asyncio.AbstractServer | None = None
        self.connections: set[Any] = set()
        self.requests = 0
        self.responses_5xx = 0
        self.backend_errors = 0
        self.pools: dict[str | None, Pool] = {}
        self.l4_pool: Pool | None = None
        self._domains: dict[bytes, list[tuple[bytes, Pool]]] = {}
        self._wildcards: list[tuple[bytes, list[tuple[bytes, Pool]]]] = []
        self._any: list[tuple[bytes, Pool]] | None = None

    async def bind(self) -> None:
        cfg = self.config
        factory: Callable[[], asyncio.Protocol]
        if cfg.protocol.upper() == "HTTP":
            factory = lambda: HttpFrontend(self)  # noqa: E731
        elif cfg.protocol.upper() == "TCP":
            factory = lambda: TcpFrontend(self)  # noqa: E731
        else:
            raise OSError(f"protocol {cfg.protocol} is not served by this data plane")
        self.server = await self.loop.create_server(factory, cfg.vip, cfg.port, reuse_address=True, backlog=1024)

    def update(self, config: ListenerConfig) -> None:
        self.config = config
        specs: list[tuple[str | None, str, HealthCheckConfig | None, tuple[Backend, ...], str | None]]
        if config.protocol.upper() == "HTTP":
            specs = [(r.location_id, r.scheduler, r.health, r.backends, default_domain(r.domain)) for r in config.routes]
        else:
            specs = [(None, config.scheduler, config.health, config.backends, None)]
        plane = self.plane
        pools: dict[str | None, Pool] = {}
        for location_id, scheduler, health, backends, domain in specs:
            pool = self.pools.get(location_id)
            if pool is None:
                pool = Pool(config.listener_id, location_id, scheduler, None, config.all_dead_policy,
                            plane._health_changed, plane._member_drained, plane._draining)
            pool.lb_id = config.lb_id
            pool.source = config.vip
            restart = pool.health != health or pool.check_domain != domain
            pool.scheduler = scheduler
            pool.all_dead_policy = config.all_dead_policy
            pool.check_domain = domain
            pool.set_health(health)
            added, removed = pool.set_backends(backends)
            for member in removed:
                stop_checker(member)
            for member in pool.members.values() if restart else added:
                start_checker(pool, member, domain)
            pools[location_id] = pool
        for location_id, pool in self.pools.items():
            if pools.get(location_id) is not pool:
                for member in pool.members.values():
                    stop_checker(member)
        self.pools = pools
        self.l4_pool = pools.get(None) if config.protocol.upper() != "HTTP" else None
        self._build_routes(config)

    def _build_routes(self, config: ListenerConfig) -> None:
        by_domain: dict[str, list[tuple[bytes, Pool]]] = {}
        for route in config.routes:
            by_domain.setdefault(route.domain.lower(), []).append((route.url.encode(), self.pools[route.location_id]))
        for routes in by_domain.values():
            routes.sort(key=lambda r: len(r[0]), reverse=True)  # longest URL prefix wins
        self._any = by_domain.pop("", None)
        self._wildcards = sorted(((d[1:].encode(), r) for d, r in by_domain.items() if d.startswith("*")),
                                 key=lambda w: len(w[0]), reverse=True)
        self._domains = {d.encode(): r for d, r in by_domain.items() if not d.startswith("*")}

    def route(self, host: bytes, path: bytes) -> Pool | None:
        """Exact domain, then the longest wildcard suffix (`*.example.com`), then the rules without a
        domain; within the chosen domain, the longest URL prefix (nginx's server/location model)."""
        routes = self._any
        if self._domains or self._wildcards:
            name = _host_only(host)
            found = self._domains.get(name)
            if found is None:
                for suffix, wild_routes in self._wildcards:
                    if name.endswith(suffix):
                        found = wild_routes
                        break
            if found is not None:
                routes = found
        if routes is None:
            return None
        for url, pool in routes:
            if path.startswith(url):
                return pool
        return None

    def stop_checkers(self) -> None:
        for pool in self.pools.values():
            for member in pool.members.values():
                stop_checker(member)


class DataPlane:
    """Notes for the control plane:
    - `on_health_change` runs synchronously on the loop, inside a checker task: record or schedule,
      never block. It fires for every status change of a live member, including Unknown -> Alive at
      start and -> Close / -> Unknown when a pool's health switch is turned off / on.
    - A listener that cannot be bound (port taken by another listener or process, a port below 1024
      without CAP_NET_BIND_SERVICE, an address that is not local) surfaces as ApplyError.failures
      [listener_id] (the OSError, errno intact) after the rest has been applied; it is not served and
      `health` reports "Unknown" for its targets until a later `apply` binds it.
    - Drained instances are never used, not even by fail-open; weight 0 likewise."""

    def __init__(self, on_health_change: HealthCallback | None = None) -> None:
        self._on_health_change = on_health_change
        self._listeners: dict[str, ListenerRuntime] = {}
        self._draining: set[str] = set()
        self._drain_events: dict[str, asyncio.Event] = {}
        self.upstreams = Upstreams()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._apply_lock = asyncio.Lock()  # two overlapping applies would race on bind/remove

    # -- desired state ------------------------------------------------------------------------------

    async def apply(self, listeners: list[ListenerConfig]) -> None:
        """Bind new listeners, update changed ones in place (members keep their health history when
        their key and address are unchanged), close removed ones and their connections. Raises
        ApplyError after applying everything else if some listener could not be bound."""
        async with self._apply_lock:
            await self._apply(listeners)

    async def _apply(self, listeners: list[ListenerConfig]) -> None:
        loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())
        desired = {cfg.listener_id: cfg for cfg in listeners}
        # Removals and address moves first, so a port handed from one listener to another is free.
        for listener_id, runtime in list(self._listeners.items()):
            cfg = desired.get(listener_id)
            if cfg is None or (cfg.vip, cfg.port, cfg.protocol.upper()) != (
                    runtime.config.vip, runtime.config.port, runtime.config.protocol.upper()):
                await self._remove(listener_id)
        failures: dict[str, OSError] = {}
        for listener_id, cfg in desired.items():
            existing = self._listeners.get(listener_id)
            if existing is not None:
                if existing.config != cfg:
                    existing.update(cfg)
                continue
            runtime = ListenerRuntime(self, cfg, loop)
            try:
                await runtime.bind()
            except OSError as exc:
                failures[listener_id] = exc
                continue
            runtime.update(cfg)
            self._listeners[listener_id] = runtime
        if failures:
            raise ApplyError(failures)

    async def _remove(self, listener_id: str) -> None:
        runtime = self._listeners.pop(listener_id)
        runtime.stop_checkers()
        if runtime.server is not None:
            runtime.server.close()
        for conn in list(runtime.connections):
            conn.transport.abort()
        # Let the loop run the close callbacks so the sockets are really gone when we return.
        for _ in range(100):
            await asyncio.sleep(0)
            if not runtime.connections:
                break
        if runtime.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runtime.server.wait_closed(), 1.0)

    # -- queries ------------------------------------------------------------------------------------

    def _pool(self, listener_id: str, location_id: str | None) -> Pool | None:
        runtime = self._listeners.get(listener_id)
        if runtime is None:
            return None
        pool = runtime.pools.get(location_id)
        # L4 targets are reported under a rule with a LocationId on Tencent; accept either form.
        return pool if pool is not None else runtime.l4_pool

    def health(self, listener_id: str, location_id: str | None, backend_key: str) -> Health:
        """"Alive" | "Dead" | "Unknown" | "Close"; "Unknown" also for a listener or target this data
        plane does not (yet) serve, e.g. registered but not applied, or a listener that failed to bind."""
        pool = self._pool(listener_id, location_id)
        member = pool.members.get(backend_key) if pool is not None else None
        return member.status if member is not None else Health.UNKNOWN

    def listeners(self) -> list[str]:
        return list(self._listeners)

    def metrics(self) -> list[MetricsSample]:
        rows: list[MetricsSample] = []
        for listener_id, runtime in self._listeners.items():
            rows.append(MetricsSample(listener_id, None, None, None, runtime.requests, runtime.responses_5xx,
                                      runtime.backend_errors, len(runtime.connections),
                                      sum(m.transitions for p in runtime.pools.values() for m in p.members.values()),
                                      None))
            for pool in runtime.pools.values():
                for member in pool.members.values():
                    rows.append(MetricsSample(listener_id, pool.location_id, member.backend.key,
                                              member.backend.instance_id, member.requests, member.responses_5xx,
                                              member.backend_errors, member.active, member.transitions,
                                              member.status))
        return rows

    # -- draining -----------------------------------------------------------------------------------

    def _pools(self, lb_ids: Collection[str] | None) -> list[Pool]:
        return [pool for runtime in self._listeners.values() if lb_ids is None or runtime.config.lb_id in lb_ids
                for pool in runtime.pools.values()]

    def _members_of(self, instance_id: str, lb_ids: Collection[str] | None = None) -> list[Member]:
        return [m for pool in self._pools(lb_ids) for m in pool.members.values() if m.backend.instance_id == instance_id]

    async def drain(self, instance_id: str, timeout: float, lb_ids: Collection[str] | None = None) -> None:
        """Out of rotation at once on every listener of the given load balancers (all of them if None):
        no new requests, no new TCP connections. Then wait for its in-flight requests / connections
        there to finish, at most `timeout` seconds. Idle pooled connections to it are closed
        afterwards. It stays out until `undrain`."""
        lbs = set(lb_ids) if lb_ids is not None else {r.config.lb_id for r in self._listeners.values()}
        self._draining.update(f"{lb}/{instance_id}" for lb in lbs)
        for pool in self._pools(lbs):
            pool.set_draining(instance_id, True, False)
        event = self._drain_events.setdefault(instance_id, asyncio.Event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                event.clear()
                if not any(m.active for m in self._members_of(instance_id, lbs)):
                    break
                try:
                    async with asyncio.timeout_at(deadline):
                        await event.wait()
                except TimeoutError:
                    log.info("drain of %s timed out after %.1fs", instance_id, timeout)
                    break
        finally:
            if self._drain_events.get(instance_id) is event:
                del self._drain_events[instance_id]
        addrs = {(m.backend.host, m.backend.port) for m in self._members_of(instance_id, lbs)}
        self.upstreams.close(addrs)

    def undrain(self, instance_id: str, rejoin_after_health: bool) -> None:
        """Back into rotation everywhere it was drained: at once, or (`rejoin_after_health` and checks
        enabled) only after healthy_threshold consecutive successful probes counted from now. Health
        still rules: a target the checker sees as Dead stays out either way until it is Alive again."""
        keys = {k for k in self._draining if k.endswith(f"/{instance_id}")}
        self._draining -= keys
        for pool in self._pools({k.split("/", 1)[0] for k in keys}):
            pool.set_draining(instance_id, False, rejoin_after_health)

    def draining(self) -> set[str]:
        """Instance ids drained on at least one load balancer."""
        return {k.split("/", 1)[1] for k in self._draining}

    # -- internals ----------------------------------------------------------------------------------

    def _health_changed(self, listener_id: str, location_id: str | None, key: str, old: Health, new: Health) -> None:
        if self._on_health_change is not None:
            self._on_health_change(listener_id, location_id, key, old, new)

    def _member_drained(self, instance_id: str) -> None:
        event = self._drain_events.get(instance_id)
        if event is not None:
            event.set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = loop.time()
            for runtime in list(self._listeners.values()):
                for conn in list(runtime.connections):
                    conn.check_timeout(now)
            self.upstreams.close(older_than=now - UPSTREAM_IDLE_TIMEOUT)

    async def close(self) -> None:
        """Release every socket and task."""
        async with self._apply_lock:
            for listener_id in list(self._listeners):
                await self._remove(listener_id)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.upstreams.close()
        for _ in range(3):
            await asyncio.sleep(0)
