"""The engine without the API: a real store (SQLite in a temp dir, or a fresh PostgreSQL database), the real
sim driver, the runner and the reconcilers, wired through their constructors as cloud.py wires them, for
tests of their decisions."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from minicvm import ids
from minicvm.domain.catalog import IMAGES, INSTANCE_TYPES
from minicvm.drivers.sim.driver import SimDriver
from minicvm.engine import network
from minicvm.engine.clb_controller import ClbController, ClbSettings
from minicvm.engine.events import Bus
from minicvm.engine.launch import DiskPlan, GuestAddresses, LaunchPlan, insert_instances
from minicvm.engine.runner import Runner, RunnerSettings
from minicvm.engine.scaling.reconciler import Reconciler
from minicvm.store.db import Store, migrate
from minicvm.store.tables import (
    group_instances,
    instances,
    launch_configurations,
    listeners,
    load_balancers,
    operations,
    scaling_groups,
)
from minicvm.timefmt import now
from tests.support.server import drop_postgres_database, fresh_postgres_database

ACCOUNT = 1
REGION = "ap-guangzhou"
ZONE = "ap-guangzhou-3"
IMAGE = "img-eb30mz89"
TYPE = "S5.SMALL1"

# Guests listen on loopback addresses of their own; a block per engine keeps tests (and other test
# processes on this machine) from sharing an address.
_blocks = itertools.count((os.getpid() % 200) * 64)


def guest_block() -> GuestAddresses:
    n = next(_blocks)
    return GuestAddresses(f"127.{100 + n // 256 % 100}.{n % 256}.0", 18080)


@dataclass
class Engine:
    store: Store
    driver: SimDriver
    bus: Bus
    runner: Runner
    clb: ClbController
    scaler: Reconciler
    guests: GuestAddresses
    data_dir: Path

    def restarted(self, driver: SimDriver | None = None) -> Engine:
        """The same store after a server restart: a new runner and reconcilers (and, for sim, whose guests
        live in the server's process, a new driver with no guest running)."""
        return build(self.data_dir, driver=driver, guests=self.guests, store=self.store)

    def rows(self, table: sa.Table, *where: Any) -> list[Any]:
        with self.store.read() as conn:
            return list(conn.execute(sa.select(table).where(*where)))

    def instance(self, instance_id: str) -> Any:
        return self.rows(instances, instances.c.id == instance_id)[0]

    def launch(self, count: int = 1) -> list[str]:
        """Instances created as RunInstances creates them: PENDING, with a launch operation not yet run."""
        with self.store.write() as conn:
            vpc_id, subnet_id = network.default_subnet(conn, ACCOUNT, REGION, ZONE)
            created, _ops = insert_instances(conn, self.guests, ACCOUNT, REGION, LaunchPlan(
                zone=ZONE, names=["unit"] * count, image=IMAGES[IMAGE], itype=INSTANCE_TYPES[TYPE],
                charge="POSTPAID_BY_HOUR", renew_flag=None, security_group_ids=[], tags=[],
                disks=[DiskPlan("SYSTEM_DISK", "CLOUD_PREMIUM", 20, True, "")], internet_charge="TRAFFIC_POSTPAID_BY_HOUR",
                bandwidth=0, wants_public_ip=False, user_data=None, host_name=None, vpc_id=vpc_id, subnet_id=subnet_id,
            ), ids.new_request_id())
        return created

    def operations_of(self, instance_id: str) -> list[Any]:
        with self.store.read() as conn:
            return list(conn.execute(sa.select(operations).where(operations.c.resource_id == instance_id)
                                     .order_by(operations.c.seq)))

    def submit_pending(self) -> None:
        with self.store.read() as conn:
            pending = list(conn.execute(sa.select(operations.c.id).where(operations.c.state == "OPERATING")).scalars())
        self.runner.submit(pending)

    def tcp_listener(self, health_check: dict[str, Any] | None) -> tuple[str, str]:
        """A load balancer with one TCP listener, on a VIP of this engine's block; (lb id, listener id)."""
        lb_id, listener_id = ids.new_id("lb"), ids.new_id("lbl")
        ts = now()
        with self.store.write() as conn:
            vpc_id = network.ensure_default_vpc(conn, ACCOUNT, REGION)
            conn.execute(load_balancers.insert().values(
                id=lb_id, account_id=ACCOUNT, region=REGION, name="unit", lb_type="OPEN", vpc_id=vpc_id,
                vip=self.guests.host(250), tags=[], created_time=ts))
            conn.execute(listeners.insert().values(
                id=listener_id, lb_id=lb_id, account_id=ACCOUNT, protocol="TCP", port=self.guests.port + 1,
                name="unit", scheduler="WRR", health_check=health_check, created_time=ts))
        return lb_id, listener_id

    def group(self, *, desired: int, service: dict[str, Any] | None = None, policy: str = "OLDEST_INSTANCE",
              enabled: bool = True, forward: list[dict[str, Any]] | None = None) -> str:
        """A scaling group on the default subnet, launching TYPE from IMAGE."""
        group_id, config_id = ids.new_id("asg"), ids.new_id("asc")
        ts = now()
        with self.store.write() as conn:
            vpc_id, subnet_id = network.default_subnet(conn, ACCOUNT, REGION, ZONE)
            conn.execute(launch_configurations.insert().values(
                id=config_id, account_id=ACCOUNT, region=REGION, name="unit", version=1, created_time=ts,
                updated_time=ts, spec={
                    "ImageId": IMAGE, "InstanceTypes": [TYPE], "SecurityGroupIds": [], "InstanceTags": [],
                    "SystemDisk": {"DiskType": "CLOUD_PREMIUM", "DiskSize": 20}, "DataDisks": [],
                    "InternetAccessible": {"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR",
                                           "InternetMaxBandwidthOut": 0, "PublicIpAssigned": False},
                    "LoginSettings": {"KeyIds": []}}))
            conn.execute(scaling_groups.insert().values(
                id=group_id, account_id=ACCOUNT, region=REGION, name="unit", launch_configuration_id=config_id,
                min_size=0, max_size=10, desired=desired, enabled=enabled, created_time=ts, settings={
                    "VpcId": vpc_id, "SubnetIds": [subnet_id], "TerminationPolicies": [policy],
                    "ServiceSettings": service or {}, "ForwardLoadBalancers": forward or []}))
        return group_id

    def set_desired(self, group_id: str, desired: int) -> None:
        with self.store.write() as conn:
            conn.execute(scaling_groups.update().where(scaling_groups.c.id == group_id).values(desired=desired))

    def members(self, group_id: str) -> dict[str, Any]:
        return {m.instance_id: m for m in self.rows(group_instances, group_instances.c.group_id == group_id)}

    async def settle(self) -> None:
        """Let every operation the runner holds finish."""
        await self.runner.idle()

    async def close(self) -> None:
        await self.runner.cancel_all()
        await self.clb.close()
        await self.driver.close()


def build(data_dir: Path, *, driver: SimDriver | None = None, guests: GuestAddresses | None = None,
          store: Store | None = None, database_url: str = "") -> Engine:
    if store is None:
        store = Store(database_url or f"sqlite:///{(data_dir / 'minicvm.db').resolve()}")
        migrate(store.engine)
    driver = driver or SimDriver(data_dir, boot_seconds=0, shutdown_seconds=0)
    guests = guests or guest_block()
    bus = Bus()
    runner = Runner(store, driver, bus, RunnerSettings(data_dir=data_dir, soft_stop_timeout=1.0, hard_stop_seconds=0,
                                                     async_op_seconds=0))
    clb = ClbController(store, bus, ClbSettings(time_scale=0.05, drain_seconds=0))
    runner.before_power_off.append(clb.before_power_off)
    scaler = Reconciler(store, bus, runner, clb, guests, interval=3600)  # ticks are the test's to call
    return Engine(store, driver, bus, runner, clb, scaler, guests, data_dir)


def run(data_dir: Path, body: Callable[[Engine], Awaitable[None]], backend: str = "sqlite") -> None:
    """Run `body` against a fresh engine on `backend` (the conftest's "sqlite" or "postgres") in an event
    loop of its own, closing everything after."""
    database_url = fresh_postgres_database() if backend == "postgres" else ""

    async def main() -> None:
        engine = build(data_dir, database_url=database_url)
        try:
            await body(engine)
        finally:
            await engine.close()
            engine.store.dispose()

    try:
        asyncio.run(main())
    finally:
        if database_url:
            drop_postgres_database(database_url)
