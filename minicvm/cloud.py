"""The running cloud: settings, store, driver, event bus and runner, wired once per server."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path

from minicvm.config import Settings
from minicvm.dataplane.control import ClbController
from minicvm.drivers.base import Driver
from minicvm.engine.events import Bus
from minicvm.engine.runner import Runner
from minicvm.engine.scaling.reconciler import Reconciler
from minicvm.store.db import Store, migrate

log = logging.getLogger(__name__)


def make_driver(settings: Settings) -> Driver:
    if settings.driver == "sim":
        from minicvm.drivers.sim.driver import SimDriver

        return SimDriver(settings.data_dir, settings.boot_seconds, settings.shutdown_seconds,
                         settings.sim_bytes_per_gib)
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
    runner: Runner = field(init=False)
    clb: ClbController = field(init=False)
    scaler: Reconciler = field(init=False)
    _watch: asyncio.Task[None] | None = field(init=False, default=None)
    closing: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.runner = Runner(self)
        self.driver.on_guest_off = self.runner.guest_went_off
        self.clb = ClbController(self)
        self.scaler = Reconciler(self)

    @classmethod
    def open(cls, settings: Settings) -> Cloud:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.db_url)
        migrate(store.engine)
        return cls(settings, store, make_driver(settings))

    def guest_host(self, seq: int) -> str:
        """The n-th instance's own loopback address: stable for its life, like its private IP."""
        return str(ipaddress.ip_address(self.settings.guest_network) + seq)

    def begin_shutdown(self) -> None:
        """The server was asked to stop: long-lived streams (console events) end now, so that shutdown
        does not wait for browsers to go away. Safe to call from a signal handler in the loop's thread."""
        self.closing.set()
        self.bus.publish({"type": "closing"})

    async def start(self) -> None:
        await self.runner.recover()
        await self.clb.sync()
        self.scaler.start()
        self._watch = asyncio.get_running_loop().create_task(self.runner.watch_power())

    async def stop(self, keep_running: bool = False) -> None:
        if self._watch is not None:
            self._watch.cancel()
        await self.scaler.stop()
        await self.runner.cancel_all()
        if not keep_running and getattr(self.driver, "guests_survive_restart", False):
            self.runner.write_host_shutdown_marker()
        await self.clb.close()
        await self.driver.close(keep_running)
        self.store.dispose()
