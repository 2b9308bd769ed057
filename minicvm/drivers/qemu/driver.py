"""The QEMU hypervisor: every instance is a real VM (guest image from image.py) whose agent speaks
the guest contract on the instance's own loopback address. SOFT stop is the ACPI power button (QMP
`system_powerdown`), HARD is QMP `quit` then SIGKILL. Disks are raw sparse ext4 files under the data
dir. VMs run in their own session, so they survive a minicvm restart and are re-adopted from their
pid files and QMP sockets under <data-dir>/qemu/.

Power changes are read from QEMU itself: every VM has a second QMP monitor that the driver keeps open,
and its SHUTDOWN / STOP events (then the monitor closing as QEMU exits) are the "went off" events.
sweep() is the slow safety net for a VM whose monitor could not be followed."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil
import time
from pathlib import Path

from minicvm.domain.firewall import IngressPolicy
from minicvm.drivers import userdata
from minicvm.drivers.base import (
    Capabilities,
    DiskSpec,
    Driver,
    GuestError,
    GuestEventKind,
    GuestSpec,
    PowerState,
    StopMode,
    StoppedChanges,
)
from minicvm.drivers.qemu import agent_client, disks, qmp
from minicvm.drivers.qemu.accel import detect_accel
from minicvm.drivers.qemu.image import GuestImage, ImageError, default_image_dir, ensure_image
from minicvm.drivers.qemu.machine import Drive, Machine, QemuMissing, command, qemu_binary
from minicvm.drivers.qemu.process import (
    Vm,
    adopt,
    event_socket_path,
    log_tail,
    qmp_socket_path,
    remove_socket_dir,
    spawn,
)
from minicvm.drivers.qemu.resources import MemoryBudget, footprint_mib, guest_memory_mib, guest_vcpus

# ext4 needs room for its metadata and journal: a scaled-down GiB is never smaller than this.
MIN_BYTES_PER_GIB = 16 << 20
CLOSE_SOFT_SECONDS = 2.0
PROBE_INTERVAL = 0.05  # seconds between boot probes of the guest agent
MAX_PROBES = 8  # in flight at once
EVENTS_CONNECT_SECONDS = 10.0  # QEMU makes its monitor sockets within moments of starting
EXIT_GRACE_SECONDS = 2.0  # QEMU exits right after its SHUTDOWN event
# Run states in which a VM that stopped runs nothing any more: it is as good as off.
DEAD_STATUSES = frozenset({"shutdown", "guest-panicked", "internal-error", "io-error"})
HARD_STOP_REASON = "the host pulled the plug (hard stop)"
EXITED_REASON = "QEMU exited without the guest shutting down (killed or crashed)"

log = logging.getLogger(__name__)


def shutdown_reason(data: dict[str, object]) -> str:
    """What a QMP SHUTDOWN event's reason means, for the instance's log."""
    reason = data.get("reason")
    return {
        "guest-shutdown": "the guest OS powered off",
        "guest-reset": "the guest OS reset itself (a crash or a reboot; a reset powers the VM off here)",
        "guest-panic": "the guest OS panicked",
        "host-qmp-quit": HARD_STOP_REASON,
        "host-signal": "QEMU was told to quit by a signal",
    }.get(str(reason), f"QEMU shut the VM down ({reason})")


class QemuDriver(Driver):
    name = "qemu"
    # No PCIe hot-plug here: CBS refuses to attach/detach disks of a running qemu guest.
    capabilities = Capabilities(guests_survive_restart=True, hotplug_disks=False)

    def __init__(self, data_dir: Path, *, image_dir: Path | None = None, accel: str = "auto",
                 bytes_per_gib: int = 1 << 30, memory_budget_mib: int | None = None,
                 boot_timeout: float = 120.0) -> None:
        if bytes_per_gib < MIN_BYTES_PER_GIB:
            raise ValueError(f"bytes_per_gib must be at least {MIN_BYTES_PER_GIB} for ext4 disks")
        super().__init__()
        self.data_dir = data_dir
        self.disks_dir = data_dir / "disks"
        self.disks_dir.mkdir(parents=True, exist_ok=True)
        self.state_root = data_dir / "qemu"
        self.state_root.mkdir(parents=True, exist_ok=True)
        self.image_dir = image_dir or default_image_dir(data_dir)
        self.requested_accel = accel
        self.bytes_per_gib = bytes_per_gib
        self.budget = MemoryBudget.for_host(memory_budget_mib)
        self.boot_timeout = boot_timeout
        self.vms: dict[str, Vm] = adopt(self.state_root)
        self._prepared: tuple[GuestImage, str] | None = None
        self._prepare_lock = asyncio.Lock()
        self._start_locks: dict[str, asyncio.Lock] = {}
        self._reserved: dict[str, int] = {}  # memory promised to guests that are being started
        self._watchers: dict[str, asyncio.Task[None]] = {}  # instance id → the task following its events

    # ---- disks ------------------------------------------------------------------------------

    def disk_path(self, disk_id: str) -> Path:
        return self.disks_dir / f"{disk_id}.img"

    def _size_bytes(self, size_gib: int) -> int:
        return max(1, size_gib) * self.bytes_per_gib

    async def create_disk(self, disk_id: str, size_gib: int) -> None:
        await self._disk_call(disks.create, self.disk_path(disk_id), self._size_bytes(size_gib))

    async def delete_disk(self, disk_id: str) -> None:
        self.disk_path(disk_id).unlink(missing_ok=True)

    @staticmethod
    async def _disk_call(func, *args):  # type: ignore[no-untyped-def]
        try:
            return await asyncio.to_thread(func, *args)
        except disks.DiskError as exc:
            raise GuestError(str(exc)) from None

    def _ensure_disk(self, disk_id: str, size_gib: int) -> int:
        """Create or grow (never shrink) a disk to at least size_gib; returns the GiB the guest sees."""
        path = self.disk_path(disk_id)
        if path.exists():
            disks.grow(path, self._size_bytes(size_gib))
        else:
            disks.create(path, self._size_bytes(size_gib))
        return path.stat().st_size // self.bytes_per_gib

    # ---- the guest image --------------------------------------------------------------------

    async def prepare(self) -> tuple[GuestImage, str]:
        """Build the guest image and pick the accelerator, once (the first start pays for it)."""
        async with self._prepare_lock:
            if self._prepared is None:
                try:
                    qemu_binary()
                    image = await asyncio.to_thread(ensure_image, self.image_dir)
                    accel = await asyncio.to_thread(detect_accel, image, self.requested_accel)
                except (ImageError, QemuMissing) as exc:
                    raise GuestError(f"the qemu driver cannot boot guests: {exc}") from None
                self._prepared = (image, accel)
            return self._prepared

    # ---- power ------------------------------------------------------------------------------

    async def start(self, spec: GuestSpec) -> None:
        lock = self._start_locks.setdefault(spec.instance_id, asyncio.Lock())
        async with lock:
            vm = self.vms.get(spec.instance_id)
            if vm is not None:
                if vm.alive():
                    await self._wait_for_guest(vm, spec)  # already on: starting is idempotent
                    self._announce(vm)
                    return
                self._forget(vm, vm.off_reason or EXITED_REASON)
            if not _is_loopback(spec.host):
                raise GuestError(f"guest address {spec.host} is not a loopback address (127.0.0.0/8)")
            image, accel = await self.prepare()
            memory_mib = guest_memory_mib(spec.memory_gib)
            running = [v.footprint_mib for v in self.vms.values() if v.alive()] + list(self._reserved.values())
            refusal = self.budget.refusal(spec.instance_id, spec.memory_gib, running)
            if refusal is not None:
                raise GuestError(refusal)
            self._reserved[spec.instance_id] = footprint_mib(memory_mib)
            try:
                vm = await self._launch(spec, image, accel, memory_mib)
            finally:
                self._reserved.pop(spec.instance_id, None)
            try:
                await self._wait_for_guest(vm, spec)
            except BaseException:
                await self._hard_stop(vm)
                raise
            self._announce(vm)

    def _announce(self, vm: Vm) -> None:
        if not vm.announced:
            vm.announced = True
            self.publish(vm.instance_id, GuestEventKind.CAME_UP, "the guest booted")

    async def _launch(self, spec: GuestSpec, image: GuestImage, accel: str, memory_mib: int) -> Vm:
        state_dir = self.state_root / spec.instance_id
        state_dir.mkdir(parents=True, exist_ok=True)
        sizes = {}
        for disk in spec.disks:
            sizes[disk.disk_id] = await self._disk_call(self._ensure_disk, disk.disk_id, disk.size_gib)
        (state_dir / "config").write_text(guest_config(spec, sizes))
        fw_cfg = [("opt/minicvm/config", state_dir / "config")]
        text = userdata.decode(spec.user_data)
        if text:
            (state_dir / "user-data").write_text(text)
            fw_cfg.append(("opt/minicvm/user-data", state_dir / "user-data"))
        socket = qmp_socket_path(self.state_root, spec.instance_id)
        events = event_socket_path(self.state_root, spec.instance_id)
        socket.parent.mkdir(parents=True, exist_ok=True)
        socket.unlink(missing_ok=True)
        events.unlink(missing_ok=True)
        machine = Machine(
            name=spec.instance_id, vcpus=guest_vcpus(spec.cpu), memory_mib=memory_mib,
            drives=tuple(Drive(self.disk_path(d.disk_id), d.disk_id) for d in spec.disks),
            forward=(spec.host, spec.port), qmp_socket=socket, event_socket=events,
            console_log=state_dir / "console.log",
            fw_cfg=tuple(fw_cfg),
        )
        try:
            popen = spawn(command(image, accel, machine), state_dir)
        except OSError as exc:
            raise GuestError(f"could not start QEMU for {spec.instance_id}: {exc}") from None
        vm = Vm(instance_id=spec.instance_id, pid=popen.pid, qmp_socket=socket, state_dir=state_dir,
                footprint_mib=footprint_mib(memory_mib), host=spec.host, port=spec.port, popen=popen,
                event_socket=events)
        vm.save()
        self.vms[spec.instance_id] = vm
        self._follow(vm)
        return vm

    async def _wait_for_guest(self, vm: Vm, spec: GuestSpec) -> None:
        """Until the agent answers `GET /` as this instance. Probes overlap: QEMU's forwarding accepts a
        connection before the guest's network is up, and a SYN it sends then is only retried seconds
        later, so one probe at a time would notice a ready guest late."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.boot_timeout
        probes: set[asyncio.Task[dict[str, object] | None]] = set()
        last_probe = 0.0
        try:
            while True:
                if not vm.alive():
                    raise GuestError(self._death_message(vm, spec))
                if loop.time() >= deadline:
                    console = log_tail(vm.state_dir, "console.log")
                    raise GuestError(f"the guest {spec.instance_id} did not answer on {spec.host}:{spec.port} "
                                     f"within {self.boot_timeout:g} s" + (f" (console: {console})" if console else ""))
                if len(probes) < MAX_PROBES and loop.time() - last_probe >= PROBE_INTERVAL:
                    last_probe = loop.time()
                    probes.add(asyncio.create_task(agent_client.describe(spec.host, spec.port, timeout=3.0)))
                if not probes:
                    await asyncio.sleep(PROBE_INTERVAL)
                    continue
                done, probes = await asyncio.wait(probes, timeout=PROBE_INTERVAL,
                                                  return_when=asyncio.FIRST_COMPLETED)
                if any((t.result() or {}).get("InstanceId") == spec.instance_id for t in done):
                    return
        finally:
            for task in probes:
                task.cancel()
            await asyncio.gather(*probes, return_exceptions=True)

    @staticmethod
    def _death_message(vm: Vm, spec: GuestSpec) -> str:
        log = log_tail(vm.state_dir)
        if "host forwarding rule" in log:
            return f"the guest could not listen on {spec.host}:{spec.port}: the address is in use"
        console = log_tail(vm.state_dir, "console.log")
        return (f"QEMU exited while booting {spec.instance_id}: {log or 'no message'}"
                + (f" (console: {console})" if console else ""))

    async def stop(self, instance_id: str, mode: StopMode, timeout: float) -> bool:
        vm = self.vms.get(instance_id)
        if vm is None or not vm.alive():
            if vm is not None:
                self._forget(vm, vm.off_reason or EXITED_REASON)
            return True
        if mode is StopMode.HARD:
            await self._hard_stop(vm)
            return True
        try:
            await qmp.execute(vm.qmp_socket, "system_powerdown")
        except qmp.QmpError:
            pass  # the monitor is gone or stuck: the wait below tells whether the guest is off
        if await vm.wait_exit(timeout):
            self._forget(vm, vm.off_reason or "the guest OS shut down after the power button was pressed")
            return True
        return False

    async def _hard_stop(self, vm: Vm, reason: str = HARD_STOP_REASON) -> None:
        try:
            await qmp.execute(vm.qmp_socket, "quit", timeout=1.0)
        except qmp.QmpError:
            pass
        if not await vm.wait_exit(1.0):
            vm.kill()
            await vm.wait_exit(5.0)
        self._forget(vm, reason)

    def _forget(self, vm: Vm, reason: str) -> None:
        """The VM is off: tidy up after it and, the first time only, say so on the event channel."""
        if vm.popen is not None:
            vm.popen.poll()
        vm.remove_runtime_files()
        if self.vms.get(vm.instance_id) is vm:
            del self.vms[vm.instance_id]
            if vm.announced:
                self.publish(vm.instance_id, GuestEventKind.WENT_OFF, reason)

    async def power_state(self, instance_id: str) -> PowerState:
        vm = self.vms.get(instance_id)
        if vm is not None and vm.alive():
            return PowerState.RUNNING
        if vm is not None:
            self._forget(vm, vm.off_reason or EXITED_REASON)  # it went off unasked: tidy up after it
        return PowerState.OFF

    # ---- power events -----------------------------------------------------------------------

    def _follow(self, vm: Vm) -> None:
        """Follow the VM's event monitor in the background (once per VM)."""
        if vm.event_socket is None or vm.instance_id in self._watchers:
            return
        task = asyncio.get_running_loop().create_task(self._follow_events(vm))
        self._watchers[vm.instance_id] = task

        def done(_: asyncio.Task[None], instance_id: str = vm.instance_id) -> None:
            if self._watchers.get(instance_id) is task:
                del self._watchers[instance_id]

        task.add_done_callback(done)

    async def _follow_events(self, vm: Vm) -> None:
        monitor = await self._connect_events(vm)
        if monitor is not None:
            try:
                while True:
                    event = await monitor.event()
                    data = event.get("data") or {}
                    if event.get("event") == "SHUTDOWN":
                        vm.off_reason = shutdown_reason(data)
                    elif event.get("event") == "STOP":
                        await self._stopped(vm, monitor)
            except qmp.QmpError:
                pass  # QEMU closed the monitor: it is exiting (or the socket broke; the sweep follows up)
            finally:
                monitor.close()
        if await vm.wait_exit(EXIT_GRACE_SECONDS):
            self._forget(vm, vm.off_reason or EXITED_REASON)

    async def _connect_events(self, vm: Vm) -> qmp.Qmp | None:
        assert vm.event_socket is not None
        deadline = time.monotonic() + EVENTS_CONNECT_SECONDS
        while vm.alive():
            try:
                return await qmp.Qmp.connect(vm.event_socket)
            except qmp.QmpError:
                if time.monotonic() >= deadline:
                    log.warning("cannot follow the events of %s's VM; only the sweep watches it", vm.instance_id)
                    return None
                await asyncio.sleep(0.05)
        return None

    async def _stopped(self, vm: Vm, monitor: qmp.Qmp) -> None:
        """QEMU paused the VM. A pause it can never resume from (a panic, a disk error) is off."""
        try:
            status = str((await monitor.execute("query-status")).get("status"))
        except qmp.QmpError:
            return  # it is exiting: the monitor closing tells
        if status in DEAD_STATUSES:
            vm.off_reason = vm.off_reason or f"QEMU stopped the VM ({status}); it was powered off"
            await self._hard_stop(vm, vm.off_reason)

    def set_ingress(self, instance_id: str, policy: IngressPolicy) -> None:
        """Not enforced yet (filters_ingress is False): the guest's forwarded ports are plain host sockets."""

    async def sweep(self) -> None:
        """The safety net (a /proc read per VM): VMs that went off without an event, and VMs whose
        monitor nobody follows yet (those adopted from the previous server, or whose socket broke)."""
        for vm in list(self.vms.values()):
            if not vm.alive():
                self._forget(vm, vm.off_reason or EXITED_REASON)
            else:
                self._follow(vm)

    # ---- changes while stopped --------------------------------------------------------------

    async def apply_while_stopped(self, spec: GuestSpec, changes: StoppedChanges) -> None:
        if await self.power_state(spec.instance_id) is PowerState.RUNNING:
            raise GuestError(f"{spec.instance_id} is running: changes to its disks need it stopped")
        await self._disk_call(self._apply_offline, spec, changes)

    def _apply_offline(self, spec: GuestSpec, changes: StoppedChanges) -> None:
        for disk_id, size_gib in changes.disk_sizes.items():
            self._ensure_disk(disk_id, size_gib)
        config = changes.guest_config()
        if config:
            system = spec.system_disk
            self._ensure_disk(system.disk_id, system.size_gib)
            disks.update_config(self.disk_path(system.disk_id), config)

    # ---- lifecycle of the driver ------------------------------------------------------------

    # Without hot-plug a disk change needs the guest off, and stays off until the change is recorded:
    # both take the start lock, so a boot that began first (with the old disk set on its command
    # line) is waited for and the change refused, never silently lost.
    async def attach_disk(self, instance_id: str, disk: DiskSpec) -> None:
        async with self._start_locks.setdefault(instance_id, asyncio.Lock()):
            self._refuse_hotplug(instance_id)
            await self.create_disk(disk.disk_id, disk.size_gib)

    async def detach_disk(self, instance_id: str, disk_id: str) -> None:
        async with self._start_locks.setdefault(instance_id, asyncio.Lock()):
            self._refuse_hotplug(instance_id)

    def _refuse_hotplug(self, instance_id: str) -> None:
        vm = self.vms.get(instance_id)
        if vm is not None and vm.alive():
            raise GuestError(f"{instance_id} is running and the qemu driver cannot hot-plug disks; "
                             "stop it and try again")

    async def destroy(self, instance_id: str) -> None:
        vm = self.vms.get(instance_id)
        if vm is not None:
            await self._hard_stop(vm, "the instance was destroyed")
        shutil.rmtree(self.state_root / instance_id, ignore_errors=True)
        qmp_socket_path(self.state_root, instance_id).unlink(missing_ok=True)
        remove_socket_dir(self.state_root)
        self._start_locks.pop(instance_id, None)

    async def close(self, keep_running: bool = False) -> None:
        self.unsubscribe()  # the host going down is not the guests' doing
        watchers = list(self._watchers.values())
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        if keep_running:
            self.vms.clear()  # they keep running; the next driver adopts them
            return
        vms = list(self.vms.values())

        async def power_off(vm: Vm) -> None:
            # The power button first, so guests unmount their disks cleanly; then the plug.
            if not await self.stop(vm.instance_id, StopMode.SOFT, CLOSE_SOFT_SECONDS):
                await self._hard_stop(vm)

        await asyncio.gather(*(power_off(vm) for vm in vms), return_exceptions=True)
        for vm in vms:
            if vm.alive():
                vm.kill()
        remove_socket_dir(self.state_root)


def _is_loopback(host: str) -> bool:
    """Guests are only ever forwarded from loopback addresses: nothing outside this host reaches them."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def guest_config(spec: GuestSpec, disk_gib: dict[str, int]) -> str:
    """What the guest's init and agent read through fw_cfg: `key=value` lines, one disk per line."""

    def clean(value: object) -> str:
        return str(value).replace("\n", " ").replace("\r", " ")

    lines = [
        f"instance_id={clean(spec.instance_id)}",
        f"host_name={clean(spec.host_name)}",
        f"cpu={spec.cpu}",
        f"memory_gib={spec.memory_gib}",
        f"ignore_power_button={1 if userdata.ignores_power_button(spec.user_data) else 0}",
    ]
    lines += [f"disk={clean(d.disk_id)} {disk_gib.get(d.disk_id, d.size_gib)} {1 if d.system else 0}"
              for d in spec.disks]
    return "\n".join(lines) + "\n"
