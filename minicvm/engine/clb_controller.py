"""The CLB controller, a reconciler: keeps the data plane in line with the store. Every load balancer's
listeners, rules and targets become ListenerConfigs; planned power-offs drain first where asked; health
transitions go to the instance's log. It reads the store and the event bus, never the API layer."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from minicvm.dataplane.model import (
    ApplyError,
    Backend,
    Health,
    HealthCheckConfig,
    ListenerConfig,
    MetricsSample,
    Route,
    backend_key,
    instance_of,
    pool_location,
    stored_location,
)
from minicvm.dataplane.plane import DataPlane
from minicvm.engine.events import Bus
from minicvm.store.db import Store
from minicvm.store.statements import BALANCERS_OF
from minicvm.store.tables import events, instances, lb_rules, lb_targets, listeners, load_balancers
from minicvm.timefmt import now

log = logging.getLogger(__name__)

DRAIN_TAG = "minicvm:drain-seconds"


@dataclass(frozen=True)
class ClbSettings:
    time_scale: float  # health-check intervals and timeouts are multiplied by this (tests run them fast)
    drain_seconds: float  # default drain before a planned power-off; 0 = none


def drain_seconds_of(tags: list[dict[str, str]], default: float) -> float:
    for tag in tags:
        if tag.get("TagKey") == DRAIN_TAG:
            return float(tag["TagValue"])
    return default


class ClbController:
    """Call `before_power_off` before a planned power-off (the runner's hook) and `sync` after the
    store's load balancers, listeners, rules or targets changed."""

    def __init__(self, store: Store, bus: Bus, settings: ClbSettings) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.plane = DataPlane(on_health_change=self._health_changed)
        self._sync_lock = asyncio.Lock()
        self._drained: set[str] = set()
        self.last_error: str | None = None
        bus.listeners.append(self._on_event)

    # -- desired state --------------------------------------------------------------------------

    def _check(self, raw: dict[str, Any] | None) -> HealthCheckConfig | None:
        if raw is None:
            return None
        scale = self.settings.time_scale
        # The API stores the structure complete (services/clb/health.py); a TCP check has no HTTP fields.
        http = {} if raw["CheckType"] != "HTTP" else {
            "http_path": raw["HttpCheckPath"], "http_code_mask": raw["HttpCode"], "http_method": raw["HttpCheckMethod"]}
        return HealthCheckConfig(
            enabled=raw["HealthSwitch"] == 1, check_type=raw["CheckType"], interval=raw["IntervalTime"] * scale,
            timeout=raw["TimeOut"] * scale, healthy_threshold=raw["HealthNum"], unhealthy_threshold=raw["UnHealthNum"],
            http_domain=raw.get("HttpCheckDomain"), check_port=raw.get("CheckPort"), **http)

    def desired(self) -> list[ListenerConfig]:
        with self.store.read() as conn:
            lbs = {r.id: r for r in conn.execute(sa.select(load_balancers))}
            rows = list(conn.execute(sa.select(listeners).order_by(listeners.c.seq)))
            rules = list(conn.execute(sa.select(lb_rules).order_by(lb_rules.c.seq)))
            targets = list(conn.execute(sa.select(lb_targets).order_by(lb_targets.c.seq)))
            guests = {r.id: r for r in conn.execute(sa.select(instances.c.id, instances.c.guest_host,
                                                              instances.c.guest_port))}

        def backends(listener_id: str, location_id: str) -> tuple[Backend, ...]:
            # Every target port reaches the guest's one service: the guest-contract address.
            return tuple(
                Backend(backend_key(t.instance_id, t.port), t.instance_id, guests[t.instance_id].guest_host,
                        guests[t.instance_id].guest_port, t.weight)
                for t in targets
                if t.listener_id == listener_id and t.location_id == location_id and t.instance_id in guests)

        configs = []
        for row in rows:
            lb = lbs.get(row.lb_id)
            if lb is None or row.protocol == "UDP":
                continue  # UDP listeners are accepted by the API but carry no traffic here
            routes = tuple(
                Route(r.id, r.domain, r.url, r.scheduler, self._check(r.health_check), backends(row.id, r.id))
                for r in rules if r.listener_id == row.id)
            configs.append(ListenerConfig(
                listener_id=row.id, lb_id=row.lb_id, protocol=row.protocol, vip=lb.vip, port=row.port,
                scheduler=row.scheduler, health=self._check(row.health_check),
                backends=backends(row.id, stored_location(None)) if row.protocol != "HTTP" else (), routes=routes))
        return configs

    async def sync(self) -> None:
        async with self._sync_lock:
            try:
                await self.plane.apply(self.desired())
                self.last_error = None
            except ApplyError as exc:
                self.last_error = str(exc)
                log.warning("load balancer listeners not bound: %s", exc)

    def health(self, listener_id: str, location_id: str | None, key: str) -> Health:
        return self.plane.health(listener_id, location_id, key)

    def target_health(self, listener_id: str, stored_location_id: str, instance_id: str, port: int) -> Health:
        """The health of one target as the store names it (L4 targets have location "")."""
        return self.plane.health(listener_id, pool_location(stored_location_id), backend_key(instance_id, port))

    def metrics(self) -> list[MetricsSample]:
        return self.plane.metrics()

    # -- planned stops ------------------------------------------------------------------------------

    def _drain_plan(self, instance_id: str) -> dict[str, float]:
        """{load balancer: drain seconds} for the load balancers of this instance that drain."""
        with self.store.read() as conn:
            rows = BALANCERS_OF.all(conn, instance_id=instance_id)
        default = self.settings.drain_seconds
        plan = {r.id: drain_seconds_of(list(r.tags), default) for r in rows}
        return {lb: seconds for lb, seconds in plan.items() if seconds > 0}

    async def before_power_off(self, inst: Any, action: str) -> None:
        """Take the instance out of rotation and let in-flight requests finish before its guest goes
        down — only where drain is switched on; elsewhere the target stays in rotation until health checks
        take it out (without checks its share of requests gets 502, which is what users test for)."""
        plan = self._drain_plan(inst.id)
        if not plan:
            return
        seconds = max(plan.values())
        self._log(inst.account_id, inst.id, "ClbDrainStarted",
                  f"{action}: taken out of load balancer rotation; waiting up to {seconds:g}s for requests in flight")
        started = asyncio.get_running_loop().time()
        await self.plane.drain(inst.id, seconds, lb_ids=set(plan))
        self._drained.add(inst.id)
        took = asyncio.get_running_loop().time() - started
        self._log(inst.account_id, inst.id, "ClbDrained", f"drained in {took:.2f}s; the guest is shut down next")

    def _on_event(self, event: dict[str, Any]) -> Any:
        if event.get("type") != "instance":
            return None
        instance_id = event["instance_id"]
        state = event.get("state")
        if state == "RUNNING" and instance_id in self._drained:
            self._drained.discard(instance_id)
            # Back in rotation after HealthNum good checks (at once where checks are off).
            self.plane.undrain(instance_id, rejoin_after_health=True)
            self._log(event["account_id"], instance_id, "ClbRejoined", "running again: back into load balancer rotation")
        elif state == "TERMINATED":
            return self.sync()
        return None

    # -- health -------------------------------------------------------------------------------------

    def _health_changed(self, listener_id: str, location_id: str | None, key: str, old: Health, new: Health) -> None:
        instance_id = instance_of(key)
        with self.store.read() as conn:
            account_id = conn.execute(sa.select(instances.c.account_id).where(instances.c.id == instance_id)).scalar()
        if account_id is None:
            return
        where = f"{listener_id}/{location_id}" if location_id else listener_id
        self._log(account_id, instance_id, "ClbHealthChanged", f"{key} on {where}: {old} -> {new}")
        self.bus.publish({"type": "health", "account_id": account_id, "instance_id": instance_id,
                                "listener_id": listener_id, "location_id": location_id, "status": new})

    def _log(self, account_id: int, instance_id: str, kind: str, message: str) -> None:
        with self.store.write() as conn:
            conn.execute(events.insert().values(account_id=account_id, resource_id=instance_id, kind=kind,
                                                message=message, created_time=now()))

    async def close(self) -> None:
        await self.plane.close()
