"""The hypervisor interface. `sim` (in-process guests) and `qemu` (real VMs) implement it and pass
the same contract tests; the engine's runner is its only caller."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from minicvm.domain.keys import fingerprint


class PowerState(enum.Enum):
    RUNNING = "running"
    OFF = "off"
    ABSENT = "absent"  # the driver knows nothing of this instance


class StopMode(enum.Enum):
    SOFT = "SOFT"  # ACPI power button; the guest may ignore it
    HARD = "HARD"  # pull the plug


@dataclass(frozen=True)
class DiskSpec:
    disk_id: str
    size_gib: int
    system: bool


@dataclass(frozen=True)
class GuestSpec:
    """Everything a guest needs to boot; built from the store before every start."""

    instance_id: str
    host: str
    port: int
    cpu: int
    memory_gib: int
    disks: tuple[DiskSpec, ...]
    user_data: str | None = None
    host_name: str = ""

    @property
    def system_disk(self) -> DiskSpec:
        return next(d for d in self.disks if d.system)


@dataclass(frozen=True)
class StoppedChanges:
    """Changes that may only be applied while the guest is powered off (the seed's list)."""

    password_hash: str | None = None
    password_changed_at: str | None = None
    login_user: str | None = None
    authorized_keys: tuple[str, ...] | None = None  # public keys; () = none
    disk_sizes: dict[str, int] = field(default_factory=dict)  # disk id → new GiB

    def guest_config(self) -> dict[str, object]:
        """What goes into the guest's /.minicvm/config.json (both drivers' guests read it at boot)."""
        config: dict[str, object] = {}
        if self.password_hash is not None:
            config["password_hash"] = self.password_hash
            config["password_changed_at"] = self.password_changed_at
        if self.login_user is not None:
            config["login_user"] = self.login_user
        if self.authorized_keys is not None:
            config["authorized_keys"] = list(self.authorized_keys)
            config["key_fingerprints"] = [fingerprint(k) for k in self.authorized_keys]
        return config


class GuestError(Exception):
    """A guest could not be booted or reached (becomes the operation's error message)."""


class Driver(Protocol):
    name: str
    # Whether disks can be attached to / detached from a running guest.
    hotplug_disks: bool
    # Set by the engine: called whenever a guest goes off, including on its own (a crash, or a
    # shutdown that outlived a SOFT stop's timeout), so the store can be told the truth.
    on_guest_off: Callable[[str], None] | None

    def disk_path(self, disk_id: str) -> Path: ...

    async def create_disk(self, disk_id: str, size_gib: int) -> None: ...

    async def delete_disk(self, disk_id: str) -> None: ...

    async def start(self, spec: GuestSpec) -> None:
        """Power on and return once the guest answers on its address (raises GuestError). Disks are
        grown to the sizes in the spec first, so a resize done while off shows at this boot."""

    async def stop(self, instance_id: str, mode: StopMode, timeout: float) -> bool:
        """SOFT: press the power button and wait up to `timeout`; returns False if the guest is still
        on. HARD: power off at once; always True."""

    async def power_state(self, instance_id: str) -> PowerState: ...

    async def apply_while_stopped(self, spec: GuestSpec, changes: StoppedChanges) -> None: ...

    async def attach_disk(self, instance_id: str, disk: DiskSpec) -> None:
        """Hot-plug into a running guest; a powered-off guest simply boots with it next time."""

    async def detach_disk(self, instance_id: str, disk_id: str) -> None:
        """Hot-unplug from a running guest (no-op when off)."""

    async def destroy(self, instance_id: str) -> None:
        """Power off if needed and forget the guest (disks are deleted separately)."""

    async def close(self, keep_running: bool = False) -> None: ...
