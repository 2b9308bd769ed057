"""The running cloud: settings, store, driver, event bus, runner and reconcilers, wired once per
server. Everything below receives exactly the parts it uses; only this module knows them all."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from minicvm.config import Settings
from minicvm.drivers.base import Driver
from minicvm.engine.clb_controller import ClbController, ClbSettings
from minicvm.engine.commands import CommandRunner
from minicvm.engine.events import Bus
from minicvm.engine.firewall import Firewall
from minicvm.engine.launch import GuestAddresses
from minicvm.engine.runner import Runner, RunnerSettings
from minicvm.engine.scaling.reconciler import Reconciler
from minicvm.store.db import Store, migrate

log = logging.getLogger(__name__)


def make_driver(settings: Settings) -> Driver:
    if settings.driver == "sim":
        from minicvm.drivers.sim.driver import SimDriver

        return SimDriver(settings.data_dir, settings.boot_seconds, settings.shutdown_seconds,
                         settings.sim_bytes_per_gib, ssh_port=settings.guest_ssh_port)
    if settings.driver == "qemu":
        from minicvm.drivers.qemu.driver import QemuDriver

        return QemuDriver(settings.data_dir, image_dir=Path(settings.guest_image_dir) if settings.guest_image_dir else None,
                          accel=settings.qemu_accel, memory_budget_mib=settings.qemu_memory_mib or None,
                          bytes_per_gib=settings.qemu_bytes_per_gib, boot_timeout=settings.qemu_boot_timeout)
    raise SystemExit(f"unknown driver {settings.driver!r} (available: sim, qemu)")


@dataclass
class Cloud:
    settings: Settings
    store: Store
    driver: Driver
    bus: Bus = field(default_factory=Bus)
    guests: GuestAddresses = field(init=False)
    runner: Runner = field(init=False)
    clb: ClbController = field(init=False)
    firewall: Firewall = field(init=False)
    scaler: Reconciler = field(init=False)
    commands: CommandRunner = field(init=False)
    _watch: asyncio.Task[None] | None = field(init=False, default=None)
    closing: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        settings = self.settings
        self.guests = GuestAddresses(settings.guest_network, settings.guest_port)
        self.runner = Runner(self.store, self.driver, self.bus, RunnerSettings(
            data_dir=settings.data_dir, soft_stop_timeout=settings.soft_stop_timeout,
            hard_stop_seconds=settings.hard_stop_seconds, async_op_seconds=settings.async_op_seconds))
        self.driver.subscribe(self.runner.on_guest_event)
        self.firewall = Firewall(self.store, self.driver)
        self.runner.before_boot.append(self.firewall.before_boot)
        self.clb = ClbController(self.store, self.bus, ClbSettings(time_scale=settings.clb_time_scale,
                                                                   drain_seconds=settings.drain_seconds))
        # Planned power-offs drain the instance's load balancers first.
        self.runner.before_power_off.append(self.clb.before_power_off)
        self.scaler = Reconciler(self.store, self.bus, self.runner, self.clb, self.guests, settings.as_interval)
        self.commands = CommandRunner(self.store, self.driver)

    @classmethod
    def open(cls, settings: Settings) -> Cloud:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.db_url)
        migrate(store.engine)
        return cls(settings, store, make_driver(settings))

    def begin_shutdown(self) -> None:
        """The server was asked to stop: long-lived streams (console events) end now, so that shutdown
        does not wait for browsers to go away. Safe to call from a signal handler in the loop's thread."""
        self.closing.set()
        self.bus.publish({"type": "closing"})

    async def start(self) -> None:
        self.firewall.sync_all()
        await self.runner.recover()
        self.commands.recover()
        await self.clb.sync()
        self.scaler.start()
        self._watch = asyncio.get_running_loop().create_task(self.runner.watch_power())

    async def stop(self, keep_running: bool = False) -> None:
        if self._watch is not None:
            self._watch.cancel()
        await self.scaler.stop()
        await self.runner.cancel_all()
        await self.commands.close()
        if not keep_running and self.driver.capabilities.guests_survive_restart:
            self.runner.write_host_shutdown_marker()
        await self.clb.close()
        await self.driver.close(keep_running)
        self.store.dispose()
