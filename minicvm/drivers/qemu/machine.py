"""The QEMU command line of a minicvm guest: q35 (ACPI power button; `microvm` hangs under TCG),
direct kernel boot of the guest image, virtio disks whose serial is the disk id, user-mode networking
that only forwards the instance's loopback address to the guest's port 80."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from minicvm.drivers.qemu.image import GuestImage

QEMU_BINARY = "qemu-system-x86_64"
# quiet: the serial console is slow under TCG. cryptomgr.notests and ipv6.disable save ~0.3 s of
# boot; init_on_alloc=0 stops the kernel zeroing every page it allocates (emulated memset);
# tsc=reliable/no_timer_check skip calibration work that only matters on real hardware.
# panic=-1 with -no-reboot: a guest whose init dies powers off instead of hanging.
KERNEL_ARGS = ("console=ttyS0", "quiet", "panic=-1", "cryptomgr.notests", "tsc=reliable", "no_timer_check",
               "ipv6.disable=1", "init_on_alloc=0")
# qboot (Debian's qemu-system-data) is up in milliseconds where SeaBIOS takes ~0.4 s under TCG; it
# still hands over QEMU's ACPI tables, so the power button works. SeaBIOS is the fallback.
QBOOT = Path("/usr/share/qemu/qboot.rom")
PROBE_ARG = "minicvm.probe=1"
PROBE_MARKER = b"MINICVM-PROBE-OK"


class QemuMissing(Exception):
    pass


def qemu_binary() -> str:
    path = shutil.which(QEMU_BINARY)
    if path is None:
        raise QemuMissing(f"{QEMU_BINARY} is not installed (apt-get install qemu-system-x86)")
    return path


def accel_args(accel: str) -> list[str]:
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    # A 32 MiB translation cache instead of the default (a quarter of guest RAM, at least 1 GiB of
    # address space) keeps each VM's RSS near 170 MB.
    return ["-accel", "tcg,tb-size=32"]


@dataclass(frozen=True)
class Drive:
    path: Path
    serial: str  # the disk id; the guest mounts /dev/vdX by /sys/block/vdX/serial


@dataclass(frozen=True)
class Machine:
    name: str
    vcpus: int
    memory_mib: int
    drives: tuple[Drive, ...] = ()
    forward: tuple[str, int] | None = None  # (loopback host, port) → guest port 80
    qmp_socket: Path | None = None
    event_socket: Path | None = None  # a second QMP monitor, held open by the driver to read events
    console_log: Path | None = None  # None: the serial console goes to stdout
    fw_cfg: tuple[tuple[str, Path], ...] = ()  # (opt/... name, file)
    kernel_args: tuple[str, ...] = field(default=())


def command(image: GuestImage, accel: str, machine: Machine, qemu: str | None = None) -> list[str]:
    args = [
        qemu or qemu_binary(),
        "-name", f"guest={machine.name},process=qemu-{machine.name}",
        "-machine", "q35",
        *accel_args(accel),
        "-smp", str(machine.vcpus),
        "-m", str(machine.memory_mib),
        "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none", "-no-reboot",
        *(["-bios", str(QBOOT)] if QBOOT.is_file() else []),
        "-kernel", str(image.kernel),
        "-initrd", str(image.initrd),
        "-append", " ".join(KERNEL_ARGS + machine.kernel_args),
    ]
    if machine.console_log is not None:
        args += ["-chardev", f"file,id=console,path={machine.console_log}", "-serial", "chardev:console"]
    else:
        args += ["-serial", "stdio"]
    if machine.qmp_socket is not None:
        args += ["-qmp", f"unix:{machine.qmp_socket},server=on,wait=off"]
    if machine.event_socket is not None:
        # A monitor serves one client at a time: events get their own, so commands never wait on it.
        args += ["-chardev", f"socket,id=events,path={machine.event_socket},server=on,wait=off",
                 "-mon", "chardev=events,mode=control"]
    for name, path in machine.fw_cfg:
        args += ["-fw_cfg", f"name={name},file={path}"]
    for index, drive in enumerate(machine.drives):
        args += [
            "-drive", f"file={drive.path},format=raw,if=none,id=disk{index},cache=writeback,discard=unmap",
            "-device", f"virtio-blk-pci,drive=disk{index},serial={drive.serial}",
        ]
    if machine.forward is not None:
        host, port = machine.forward
        # restrict=on: the guest reaches nothing outside, yet host forwarding still works.
        args += [
            "-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:{host}:{port}-:80",
            "-device", "virtio-net-pci,netdev=net0,romfile=",
        ]
    return args
