"""Drivers in-process, without the HTTP server: a fresh driver per scenario with its events recorded,
and the qemu guest image found (or the test skipped; under CI=true, failed)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from minicvm.drivers.base import DiskSpec, Driver, GuestEvent, GuestEventKind, GuestSpec
from minicvm.drivers.qemu.driver import QemuDriver
from minicvm.drivers.qemu.image import ImageError, default_image_dir, ensure_image
from minicvm.drivers.sim.driver import SimDriver

REPO = Path(__file__).resolve().parent.parent.parent
QEMU_TOOLS = ("qemu-system-x86_64", "e2cp", "e2mkdir", "mkfs.ext4", "resize2fs", "e2fsck", "gcc", "apt-get", "dpkg")
QEMU_BYTES_PER_GIB = 16 << 20  # scaled-down disks: a "1 GiB" disk is 16 MiB of ext4
SIM_BOOT_SECONDS = 0.3  # long enough for a disk change to land in the middle of a boot
# Every test process gets its own slice of 127/8 so that parallel runs and other suites never collide.
NET = f"127.{150 + os.getpid() % 100}.{os.getpid() % 250}"
_hosts = itertools.count(1)


def qemu_image_dir() -> Path:
    missing = [tool for tool in QEMU_TOOLS if shutil.which(tool) is None]
    if not Path("/bin/busybox").exists():
        missing.append("busybox-static")
    if missing:
        message = f"the qemu driver needs {', '.join(missing)} (make test installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory = default_image_dir(REPO / ".minicvm")
    try:
        ensure_image(directory)
    except ImageError as exc:
        pytest.fail(f"guest image: {exc}")
    return directory


@dataclass
class Events:
    """Everything the driver published, in order."""

    seen: list[GuestEvent] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # time.monotonic() of each

    def __call__(self, event: GuestEvent) -> None:
        self.seen.append(event)
        self.arrived.append(time.monotonic())

    def clear(self) -> None:
        self.seen.clear()
        self.arrived.clear()

    def of(self, instance_id: str, kind: GuestEventKind) -> list[GuestEvent]:
        return [e for e in self.seen if e.instance_id == instance_id and e.kind is kind]

    async def wait(self, instance_id: str, kind: GuestEventKind, count: int = 1, within: float = 1.0) -> float:
        """When (time.monotonic()) the instance's `count`-th event of this kind arrived; fails if that
        takes more than `within` seconds from now."""
        began = time.monotonic()
        while len(found := [t for e, t in zip(self.seen, self.arrived, strict=True)
                            if e.instance_id == instance_id and e.kind is kind]) < count:
            assert time.monotonic() - began < within, f"no {kind.value} event for {instance_id} within {within} s"
            await asyncio.sleep(0.005)
        return found[count - 1]


class Harness:
    def __init__(self, driver: Driver, events: Events, client: httpx.AsyncClient) -> None:
        self.driver = driver
        self.events = events
        self.client = client

    @property
    def hotplug(self) -> bool:
        return self.driver.capabilities.hotplug_disks

    def spec(self, tag: str, *, data_gib: int | None = None, user_data: str | None = None) -> GuestSpec:
        disks = [DiskSpec(f"disk-{tag}s", 20, True)]
        if data_gib is not None:
            disks.append(DiskSpec(f"disk-{tag}d", data_gib, False))
        encoded = base64.b64encode(user_data.encode()).decode() if user_data else None
        return GuestSpec(instance_id=f"ins-{tag}", host=f"{NET}.{next(_hosts)}", port=8080, cpu=1, memory_gib=1,
                         disks=tuple(disks), user_data=encoded, host_name=f"host-{tag}")

    def url(self, spec: GuestSpec, path: str) -> str:
        return f"http://{spec.host}:{spec.port}{path}"

    async def facts(self, spec: GuestSpec) -> dict:
        response = await self.client.get(self.url(spec, "/"))
        assert response.status_code == 200
        return response.json()

    async def disk_ids(self, spec: GuestSpec) -> list[str]:
        return [d["DiskId"] for d in (await self.facts(spec))["Disks"]]

    async def really_off(self, instance_id: str) -> float:
        """When the guest really went off, seen from outside the driver's own bookkeeping: the sim
        guest's power line, or the QEMU process gone."""
        if isinstance(self.driver, SimDriver):
            await self.driver.guests[instance_id].off.wait()
            return time.monotonic()
        assert isinstance(self.driver, QemuDriver)
        assert await self.driver.vms[instance_id].wait_exit(60)  # polls every 20 ms
        return time.monotonic()


Scenario = Callable[[Harness], Awaitable[None]]


@dataclass
class DriverUnderTest:
    kind: str
    data_dir: Path
    image_dir: Path | None = None

    def make(self) -> Driver:
        if self.kind == "sim":
            return SimDriver(self.data_dir, boot_seconds=SIM_BOOT_SECONDS, shutdown_seconds=0.2)
        return QemuDriver(self.data_dir, image_dir=self.image_dir, bytes_per_gib=QEMU_BYTES_PER_GIB, boot_timeout=90)

    def run(self, scenario: Scenario) -> None:
        """A fresh driver for the scenario; afterwards nothing of it may be left running."""

        async def main() -> None:
            driver = self.make()
            events = Events()
            driver.subscribe(events)
            try:
                async with httpx.AsyncClient(timeout=30) as client:
                    await scenario(Harness(driver, events, client))
            finally:
                await driver.close()
                self._kill_leftovers()

        asyncio.run(main())

    def _kill_leftovers(self) -> None:
        for pid_file in (self.data_dir / "qemu").glob("*/vm.json"):
            try:
                os.kill(json.loads(pid_file.read_text())["pid"], signal.SIGKILL)
            except (ProcessLookupError, OSError, ValueError, KeyError):
                pass
