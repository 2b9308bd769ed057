"""KVM or TCG? `/dev/kvm` can exist and pass every ioctl check while a KVM guest still hangs right
after the kernel decompressor (nested virtualisation here). Only booting the real guest tells: init
sees the probe argument, prints a marker and powers off. The answer is cached once per host."""

from __future__ import annotations

import json
import os
import platform
import subprocess

from minicvm.drivers.qemu.image import GuestImage
from minicvm.drivers.qemu.machine import PROBE_ARG, PROBE_MARKER, Machine, command, qemu_binary

ACCELS = ("kvm", "tcg")
# A working KVM boots the probe in well under a second; TCG needs ~4 s, so a hung KVM guest is
# clear long before this.
PROBE_SECONDS = 8.0


def _host_key() -> str:
    return f"{platform.node()} {platform.release()} {qemu_binary()}"


def probe(image: GuestImage, accel: str, seconds: float = PROBE_SECONDS) -> bool:
    """Boot the guest once under `accel`; True if its init ran. Killed with SIGKILL on timeout."""
    machine = Machine(name="accel-probe", vcpus=1, memory_mib=80, kernel_args=(PROBE_ARG,))
    try:
        done = subprocess.run(["timeout", "-s", "KILL", f"{seconds:g}", *command(image, accel, machine)],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=seconds + 5)
    except (subprocess.TimeoutExpired, FileNotFoundError):
        return False
    return PROBE_MARKER in done.stdout


def detect_accel(image: GuestImage, requested: str = "auto") -> str:
    """`requested` ("auto", "kvm" or "tcg"; MINICVM_QEMU_ACCEL overrides "auto") → the one to use."""
    requested = os.environ.get("MINICVM_QEMU_ACCEL", requested) if requested == "auto" else requested
    if requested in ACCELS:
        return requested
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    cache = image.directory / "accel.json"
    key = _host_key()
    try:
        cached = json.loads(cache.read_text())
        if cached.get("host") == key and cached.get("accel") in ACCELS:
            return str(cached["accel"])
    except (FileNotFoundError, ValueError):
        pass
    accel = "kvm" if probe(image, "kvm") else "tcg"
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"host": key, "accel": accel}))
    tmp.replace(cache)
    return accel
