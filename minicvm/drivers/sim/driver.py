"""The simulated hypervisor: guests are in-process HTTP servers (guest.py). A server restart is a host
reboot for them: nothing keeps running, and the engine boots again what the store says was RUNNING."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from minicvm.drivers.base import DiskSpec, GuestError, GuestSpec, PowerState, StopMode, StoppedChanges
from minicvm.drivers.sim.guest import Guest


class SimDriver:
    name = "sim"
    hotplug_disks = True

    def __init__(self, data_dir: Path, boot_seconds: float, shutdown_seconds: float,
                 bytes_per_gib: int = 1 << 30) -> None:
        self.disks_dir = data_dir / "disks"
        self.disks_dir.mkdir(parents=True, exist_ok=True)
        self.boot_seconds = boot_seconds
        self.shutdown_seconds = shutdown_seconds
        self.bytes_per_gib = bytes_per_gib
        self.guests: dict[str, Guest] = {}
        self.on_guest_off: Callable[[str], None] | None = None

    def disk_path(self, disk_id: str) -> Path:
        return self.disks_dir / disk_id

    async def create_disk(self, disk_id: str, size_gib: int) -> None:
        (self.disk_path(disk_id) / "data").mkdir(parents=True, exist_ok=True)

    async def delete_disk(self, disk_id: str) -> None:
        shutil.rmtree(self.disk_path(disk_id), ignore_errors=True)

    async def start(self, spec: GuestSpec) -> None:
        current = self.guests.get(spec.instance_id)
        if current is not None and not current.off.is_set():
            return  # already on: starting is idempotent so recovery can repeat it
        for disk in spec.disks:
            await self.create_disk(disk.disk_id, disk.size_gib)
        if self.boot_seconds > 0:  # with no boot time the whole start happens in one go, without yielding
            await asyncio.sleep(self.boot_seconds)
        guest = Guest(spec, {d.disk_id: self.disk_path(d.disk_id) for d in spec.disks}, self.bytes_per_gib,
                      on_off=self._guest_off)
        try:
            await guest.listen()
        except OSError as exc:
            raise GuestError(f"the guest could not listen on {spec.host}:{spec.port}: {exc.strerror}") from None
        self.guests[spec.instance_id] = guest

    def _guest_off(self, instance_id: str) -> None:
        if self.on_guest_off is not None:
            self.on_guest_off(instance_id)

    async def stop(self, instance_id: str, mode: StopMode, timeout: float) -> bool:
        guest = self.guests.get(instance_id)
        if guest is None or guest.off.is_set():
            return True
        if mode is StopMode.HARD:
            guest.power_off()
            return True
        guest.press_power_button(self.shutdown_seconds)
        if guest.off.is_set():
            return True  # no shutdown time: it is already off, no need to wait for it
        try:
            await asyncio.wait_for(guest.off.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def power_state(self, instance_id: str) -> PowerState:
        guest = self.guests.get(instance_id)
        return PowerState.RUNNING if guest is not None and not guest.off.is_set() else PowerState.OFF

    async def apply_while_stopped(self, spec: GuestSpec, changes: StoppedChanges) -> None:
        # Like writing into the guest's filesystem: the guest reads this at its next boot.
        meta = self.disk_path(spec.system_disk.disk_id) / ".minicvm"
        meta.mkdir(parents=True, exist_ok=True)
        path = meta / "config.json"
        try:
            config = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            config = {}
        config.update(changes.guest_config())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config))
        tmp.replace(path)

    async def attach_disk(self, instance_id: str, disk: DiskSpec) -> None:
        guest = self.guests.get(instance_id)
        await self.create_disk(disk.disk_id, disk.size_gib)
        if guest is not None and not guest.off.is_set():
            guest.plug(disk, self.disk_path(disk.disk_id))

    async def detach_disk(self, instance_id: str, disk_id: str) -> None:
        guest = self.guests.get(instance_id)
        if guest is not None:
            guest.unplug(disk_id)

    async def destroy(self, instance_id: str) -> None:
        guest = self.guests.pop(instance_id, None)
        if guest is not None:
            guest.power_off()
        # Tearing down takes a moment on a real host too; it keeps TERMINATING observable.
        await asyncio.sleep(self.shutdown_seconds)

    async def close(self, keep_running: bool = False) -> None:
        self.on_guest_off = None  # the host going down is not the guests' doing
        for guest in self.guests.values():
            guest.power_off()
        self.guests.clear()
