"""The simulated hypervisor: guests are in-process HTTP servers (guest.py). A server restart is a host
reboot for them: nothing keeps running, and the engine boots again what the store says was RUNNING."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path

from minicvm.domain.firewall import OPEN_POLICY, IngressPolicy, Protocol
from minicvm.drivers.base import (
    AgentGone,
    Capabilities,
    CommandResult,
    ConsoleStream,
    DiskSpec,
    Driver,
    GuestError,
    GuestEventKind,
    GuestSpec,
    PowerState,
    StopMode,
    StoppedChanges,
)
from minicvm.drivers.sim import serial, shell
from minicvm.drivers.sim.guest import Guest


class SimDriver(Driver):
    name = "sim"
    capabilities = Capabilities(guests_survive_restart=False, hotplug_disks=True, filters_ingress=True)

    def __init__(self, data_dir: Path, boot_seconds: float, shutdown_seconds: float,
                 bytes_per_gib: int = 1 << 30, ssh_port: int = 0) -> None:
        super().__init__()
        self.disks_dir = data_dir / "disks"
        self.disks_dir.mkdir(parents=True, exist_ok=True)
        self.boot_seconds = boot_seconds
        self.shutdown_seconds = shutdown_seconds
        self.bytes_per_gib = bytes_per_gib
        self.ssh_port = ssh_port  # 0: guests offer no SSH
        self.guests: dict[str, Guest] = {}
        # The disks of each boot in progress. Attach and detach change this set at once, in the order
        # they are called, and the guest gets the set as it is when the boot finishes: a disk detached
        # during the boot is not in the guest, a disk attached during it is.
        self._boot_disks: dict[str, dict[str, DiskSpec]] = {}
        self._boot_done: dict[str, asyncio.Event] = {}
        # Each instance's security groups, compiled; its guest asks at every new connection.
        self.ingress: dict[str, IngressPolicy] = {}

    def set_ingress(self, instance_id: str, policy: IngressPolicy) -> None:
        self.ingress[instance_id] = policy

    def _admits(self, instance_id: str, peer: str, protocol: Protocol, port: int) -> bool:
        return self.ingress.get(instance_id, OPEN_POLICY).admits(peer, protocol, port)

    def disk_path(self, disk_id: str) -> Path:
        return self.disks_dir / disk_id

    def _make_disk(self, disk_id: str) -> Path:
        path = self.disk_path(disk_id)
        (path / "data").mkdir(parents=True, exist_ok=True)
        return path

    async def create_disk(self, disk_id: str, size_gib: int) -> None:
        self._make_disk(disk_id)

    async def delete_disk(self, disk_id: str) -> None:
        shutil.rmtree(self.disk_path(disk_id), ignore_errors=True)

    def _running(self, instance_id: str) -> Guest | None:
        guest = self.guests.get(instance_id)
        return guest if guest is not None and not guest.off.is_set() else None

    async def start(self, spec: GuestSpec) -> None:
        instance_id = spec.instance_id
        if self._running(instance_id) is not None:
            return  # already on: starting is idempotent so recovery can repeat it
        if instance_id in self._boot_done:
            await self._boot_done[instance_id].wait()  # someone else is booting it: that boot is ours too
            if self._running(instance_id) is None:
                raise GuestError(f"the boot of {instance_id} that was in progress failed")
            return
        # Nothing above yielded: the disk set is taken in the same moment the caller read it.
        disks = self._boot_disks[instance_id] = {d.disk_id: d for d in spec.disks}
        done = self._boot_done[instance_id] = asyncio.Event()
        try:
            if self.boot_seconds > 0:  # with no boot time the whole start happens in one go, without yielding
                await asyncio.sleep(self.boot_seconds)
            booted = replace(spec, disks=tuple(disks.values()))
            guest = Guest(booted, {d: self._make_disk(d) for d in disks}, self.bytes_per_gib, on_off=self._guest_off,
                          ssh_port=self.ssh_port,
                          admit=lambda peer, protocol, port: self._admits(instance_id, peer, protocol, port))
            try:
                await guest.listen()
            except OSError as exc:
                raise GuestError(f"the guest could not listen on {spec.host}:{spec.port}: {exc.strerror}") from None
            self.guests[instance_id] = guest
        finally:
            del self._boot_disks[instance_id]
            del self._boot_done[instance_id]
            done.set()
        self.publish(instance_id, GuestEventKind.CAME_UP, "the guest booted")

    def _guest_off(self, instance_id: str, reason: str) -> None:
        self.publish(instance_id, GuestEventKind.WENT_OFF, reason)

    async def sweep(self) -> None:
        """Nothing to look for: a sim guest only goes off through Guest.power_off, which always reports."""

    async def stop(self, instance_id: str, mode: StopMode, timeout: float) -> bool:
        guest = self._running(instance_id)
        if guest is None:
            return True
        if mode is StopMode.HARD:
            guest.power_off("the host pulled the plug (hard stop)")
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
        return PowerState.RUNNING if self._running(instance_id) is not None else PowerState.OFF

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

    # Neither method yields: the guest's disks change in the same moment as the caller's record of them.
    async def attach_disk(self, instance_id: str, disk: DiskSpec) -> None:
        root = self._make_disk(disk.disk_id)
        booting = self._boot_disks.get(instance_id)
        if booting is not None:
            booting[disk.disk_id] = disk
        elif (guest := self._running(instance_id)) is not None:
            guest.plug(disk, root)

    async def detach_disk(self, instance_id: str, disk_id: str) -> None:
        booting = self._boot_disks.get(instance_id)
        if booting is not None:
            booting.pop(disk_id, None)
        elif (guest := self._running(instance_id)) is not None:
            guest.unplug(disk_id)

    def agent_online(self, instance_id: str) -> bool:
        guest = self._running(instance_id)
        return guest is not None and not guest.shutting_down

    async def run_command(self, instance_id: str, script: str, username: str, timeout: float) -> CommandResult:
        guest = self._running(instance_id)
        if guest is None or guest.shutting_down:
            raise GuestError(f"the agent of {instance_id} is offline")
        output: list[str] = []
        run = asyncio.ensure_future(shell.run_script(guest, username, script, output.append))
        off = asyncio.ensure_future(guest.off.wait())
        try:
            done, _ = await asyncio.wait({run, off}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            off.cancel()
        if run not in done:
            run.cancel()
            if off in done:
                raise AgentGone(f"{instance_id} went off while the command ran")
            return CommandResult("".join(output).encode(), -1, timed_out=True)
        result = run.result()
        guest.after_shell(result.after)
        return CommandResult("".join(output).encode(), result.exit_code)

    async def attach_console(self, instance_id: str, terminal: ConsoleStream) -> None:
        guest = self._running(instance_id)
        if guest is None:
            raise GuestError(f"{instance_id} is not running")
        served = asyncio.ensure_future(serial.session(guest, terminal))
        off = asyncio.ensure_future(guest.off.wait())
        try:
            await asyncio.wait({served, off}, return_when=asyncio.FIRST_COMPLETED)
            went_off = off.done() and not served.done()
        finally:
            served.cancel()
            off.cancel()
        if went_off:
            await terminal.send("\r\n[the guest powered off]\r\n")

    async def destroy(self, instance_id: str) -> None:
        guest = self.guests.pop(instance_id, None)
        self.ingress.pop(instance_id, None)
        if guest is not None:
            guest.power_off("the instance was destroyed")
        # Tearing down takes a moment on a real host too; it keeps TERMINATING observable.
        await asyncio.sleep(self.shutdown_seconds)

    async def close(self, keep_running: bool = False) -> None:
        self.unsubscribe()  # the host going down is not the guests' doing
        for guest in self.guests.values():
            guest.power_off("the host shut down")
        self.guests.clear()
