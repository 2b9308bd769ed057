"""Backend pools: who is in rotation, and which member takes the next request.

A pool is one set of backends with one health check and one scheduler: the backends of an L4
listener, or of one L7 rule. The candidate list is recomputed only when something changes (health,
drain, weights), so picking a member costs a loop over the candidates and nothing else.

Why fail-open is the default when no backend is in rotation: Tencent's Health Check Overview
("If all real servers are found abnormal, requests will be forwarded to all real servers") and its
troubleshooting guide say so; the API reference (DescribeTargetHealth) only says traffic goes
to healthy targets and is silent about the all-unhealthy case. Fail-open also covers the window after
a listener is created, when every target is still Unknown: Tencent forwards there too, and refusing
would turn a fresh listener into a 503 generator for HealthNum x IntervalTime seconds.
"fail_closed" answers 503 (HTTP) / closes the connection (TCP) instead."""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from minicvm.dataplane.model import FAIL_OPEN, SERVING, Backend, Health, HealthCheckConfig

if TYPE_CHECKING:
    import asyncio

HealthCallback = Callable[[str, "str | None", str, Health, Health], None]


class Member:
    """One backend inside one pool: its health as this pool's checker sees it, its counters, and the
    scheduler's per-member state."""

    __slots__ = ("backend", "pool", "status", "successes", "failures", "draining", "rejoin_pending",
                 "active", "requests", "responses_5xx", "backend_errors", "transitions", "current_weight",
                 "checker")

    def __init__(self, backend: Backend, pool: Pool, status: Health, draining: bool) -> None:
        self.backend = backend
        self.pool = pool
        self.status = status
        self.successes = 0
        self.failures = 0
        self.draining = draining
        self.rejoin_pending = False
        self.active = 0
        self.requests = 0
        self.responses_5xx = 0
        self.backend_errors = 0
        self.transitions = 0
        self.current_weight = 0
        self.checker: asyncio.Task[None] | None = None

    @property
    def in_rotation(self) -> bool:
        return (self.backend.weight > 0 and not self.draining and not self.rejoin_pending
                and self.status in SERVING)

    def acquire(self) -> None:
        self.active += 1
        self.requests += 1

    def release(self) -> None:
        self.active -= 1
        if self.draining and self.active == 0:
            self.pool.on_drained(self.backend.instance_id)


class Pool:
    def __init__(self, listener_id: str, location_id: str | None, scheduler: str,
                 health: HealthCheckConfig | None, all_dead_policy: str,
                 on_change: HealthCallback | None, on_drained: Callable[[str], None],
                 draining: set[str]) -> None:
        self.listener_id = listener_id
        self.location_id = location_id
        self.scheduler = scheduler
        self.health = health
        self.check_domain: str | None = None  # Host header for HTTP checks when none is configured
        self.all_dead_policy = all_dead_policy
        self._on_change = on_change
        self.on_drained = on_drained
        self._draining = draining  # the data plane's drained keys ("<lb>/<instance>"), shared
        self.lb_id = ""
        self.source = ""  # the load balancer's VIP: checks and traffic come from there
        self.members: dict[str, Member] = {}
        self.candidates: list[Member] = []
        self._cumulative: list[int] = []
        self._total_weight = 0
        self._cursor = 0

    @property
    def checks_enabled(self) -> bool:
        return self.health is not None and self.health.enabled

    def new_member(self, backend: Backend) -> Member:
        status = Health.UNKNOWN if self.checks_enabled else Health.CLOSE
        return Member(backend, self, status, f"{self.lb_id}/{backend.instance_id}" in self._draining)

    def set_backends(self, backends: tuple[Backend, ...]) -> tuple[list[Member], list[Member]]:
        """Keep members whose key and address are unchanged (health history survives a weight
        change); returns (added, removed)."""
        old = self.members
        fresh: dict[str, Member] = {}
        added: list[Member] = []
        for backend in backends:
            member = old.get(backend.key)
            if member is not None and (member.backend.host, member.backend.port) == (backend.host, backend.port):
                member.backend = backend
            else:
                member = self.new_member(backend)
                added.append(member)
            fresh[backend.key] = member
        removed = [m for key, m in old.items() if fresh.get(key) is not m]
        self.members = fresh
        self.refresh()
        return added, removed

    def set_health(self, health: HealthCheckConfig | None) -> None:
        was_enabled = self.checks_enabled
        self.health = health
        if self.checks_enabled == was_enabled:
            return
        for member in self.members.values():
            member.successes = member.failures = 0
            self._set_status(member, Health.UNKNOWN if self.checks_enabled else Health.CLOSE)
            if not self.checks_enabled:
                member.rejoin_pending = False
        self.refresh()

    # -- health -------------------------------------------------------------------------------------

    def record(self, member: Member, ok: bool) -> None:
        """One probe result, applied to the thresholds (Unknown and Dead both need healthy_threshold
        successes; Unknown and Alive both fall to Dead after unhealthy_threshold failures)."""
        health = self.health
        if health is None or not health.enabled or self.members.get(member.backend.key) is not member:
            return
        changed = False
        if ok:
            member.successes += 1
            member.failures = 0
            if member.successes >= health.healthy_threshold:
                if member.status != Health.ALIVE:
                    self._set_status(member, Health.ALIVE)
                    changed = True
                if member.rejoin_pending:
                    member.rejoin_pending = False
                    changed = True
        else:
            member.failures += 1
            member.successes = 0
            if member.status != Health.DEAD and member.failures >= health.unhealthy_threshold:
                self._set_status(member, Health.DEAD)
                changed = True
        if changed:
            self.refresh()

    def _set_status(self, member: Member, status: Health) -> None:
        old = member.status
        if old == status:
            return
        member.status = status
        member.transitions += 1
        if self._on_change is not None:
            self._on_change(self.listener_id, self.location_id, member.backend.key, old, status)

    # -- drain --------------------------------------------------------------------------------------

    def set_draining(self, instance_id: str, draining: bool, rejoin_after_health: bool) -> list[Member]:
        touched = [m for m in self.members.values() if m.backend.instance_id == instance_id]
        for member in touched:
            member.draining = draining
            if not draining:
                # Without health checks there is nothing to wait for: the member rejoins at once.
                member.rejoin_pending = rejoin_after_health and self.checks_enabled
                member.successes = 0
        if touched:
            self.refresh()
        return touched

    # -- scheduling ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        members = list(self.members.values())
        candidates = [m for m in members if m.in_rotation]
        if not candidates and self.all_dead_policy == FAIL_OPEN:
            # Forward to everyone not explicitly taken out (weight 0 or drained), preferring members
            # that are not known to be dead (e.g. Unknown after a listener was just created).
            usable = [m for m in members if m.backend.weight > 0 and not m.draining]
            candidates = [m for m in usable if m.status != Health.DEAD] or usable
        for member in members:
            member.current_weight = 0
        self.candidates = candidates
        total = 0
        cumulative = []
        for member in candidates:
            total += member.backend.weight
            cumulative.append(total)
        self._cumulative = cumulative
        self._total_weight = total

    def pick(self, client_ip: str) -> Member | None:
        candidates = self.candidates
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        scheduler = self.scheduler
        if scheduler == "LEAST_CONN":
            return self._least_conn(candidates)
        if scheduler == "IP_HASH":
            slot = zlib.crc32(client_ip.encode()) % self._total_weight
            return candidates[bisect.bisect_right(self._cumulative, slot)]
        # Smooth weighted round robin: every member gains its weight, the leader is picked and pays
        # the total back, so weights 5:1:1 give a a b a c a a rather than a a a a a b c.
        best = candidates[0]
        total = 0
        for member in candidates:
            weight = member.backend.weight
            member.current_weight += weight
            total += weight
            if member.current_weight > best.current_weight:
                best = member
        best.current_weight -= total
        return best

    def _least_conn(self, candidates: list[Member]) -> Member:
        # Weighted: the fewest in-flight per unit of weight; start at a rotating index so ties spread.
        count = len(candidates)
        self._cursor = start = (self._cursor + 1) % count
        best = candidates[start]
        for i in range(1, count):
            member = candidates[(start + i) % count]
            if member.active * best.backend.weight < best.active * member.backend.weight:
                best = member
        return best
