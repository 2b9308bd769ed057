"""The hypervisor interface. `sim` (in-process guests) and `qemu` (real VMs) implement it and pass
the same contract tests (tests/test_driver_contract.py); the engine's runner is its only caller.

A driver declares what it can do in `capabilities` and tells the engine about power changes it did
not start itself through one channel: `subscribe()` once, then every guest that goes off or comes up
arrives there as a `GuestEvent`, exactly once per change."""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from minicvm.domain.firewall import IngressPolicy
from minicvm.domain.keys import fingerprint

log = logging.getLogger(__name__)


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
    """What Tencent changes only while an instance is shut down, as far as the guest's own disks see it:
    password, keys, disk sizes (a new type needs nothing here: the next boot simply has it)."""

    password_hash: str | None = None
    password_changed_at: str | None = None
    login_user: str | None = None
    authorized_keys: tuple[str, ...] | None = None  # public keys; () = none
    # Binding key pairs turns password login off, a password reset turns it back on (None: unchanged).
    password_login: bool | None = None
    disk_sizes: dict[str, int] = field(default_factory=dict)  # disk id → new GiB

    def guest_config(self) -> dict[str, object]:
        """What goes into the guest's /.minicvm/config.json (both drivers' guests read it at boot)."""
        config: dict[str, object] = {}
        if self.password_hash is not None:
            config["password_hash"] = self.password_hash
            config["password_changed_at"] = self.password_changed_at
        if self.login_user is not None:
            config["login_user"] = self.login_user
        if self.password_login is not None:
            config["password_login"] = self.password_login
        if self.authorized_keys is not None:
            config["authorized_keys"] = list(self.authorized_keys)
            config["key_fingerprints"] = [fingerprint(k) for k in self.authorized_keys]
        return config


class ConsoleStream(Protocol):
    """A terminal attached to a guest's console: keystrokes in, screen output out."""

    async def receive(self) -> str | None: ...  # None: the terminal closed
    async def send(self, text: str) -> None: ...


class GuestError(Exception):
    """A guest could not be booted or reached (becomes the operation's error message)."""


class AgentGone(GuestError):
    """The guest's command agent stopped answering while a command ran (the guest went off)."""


@dataclass(frozen=True)
class CommandResult:
    """What the guest's command agent reports for one command (TAT)."""

    output: bytes
    exit_code: int
    timed_out: bool = False


@dataclass(frozen=True)
class Capabilities:
    # Guests run outside the server process and keep running across its restart, so a guest found
    # off at start-up really went off (sim guests live in the process: a restart is a host reboot).
    guests_survive_restart: bool
    # Disks can be attached to / detached from a running guest.
    hotplug_disks: bool
    # The guest's services refuse connections its security groups do not accept (set_ingress).
    filters_ingress: bool = False


class GuestEventKind(enum.Enum):
    WENT_OFF = "went-off"  # the guest is off now, whoever asked for it (or nobody did)
    CAME_UP = "came-up"  # a boot finished: the guest answers on its address


@dataclass(frozen=True)
class GuestEvent:
    instance_id: str
    kind: GuestEventKind
    reason: str  # for people: what the driver saw (goes into the instance's log when nobody asked)


GuestEventSink = Callable[[GuestEvent], None]


class Driver(abc.ABC):
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self) -> None:
        self._sink: GuestEventSink | None = None

    # ---- the event channel --------------------------------------------------------------------

    def subscribe(self, sink: GuestEventSink) -> None:
        """Where guest events go from now on. One subscriber: the engine."""
        if self._sink is not None:
            raise RuntimeError(f"the {self.name} driver already has a subscriber")
        self._sink = sink

    def unsubscribe(self) -> None:
        """No more events: the host going down is not the guests' doing."""
        self._sink = None

    def publish(self, instance_id: str, kind: GuestEventKind, reason: str) -> None:
        """For the driver itself. A failing subscriber must not break the driver's own bookkeeping."""
        if self._sink is None:
            return
        try:
            self._sink(GuestEvent(instance_id, kind, reason))
        except Exception:
            log.exception("the subscriber failed on %s %s", kind.value, instance_id)

    @abc.abstractmethod
    async def sweep(self) -> None:
        """The safety net behind the events, called every few seconds: publish any guest found off
        that no event reported."""

    # ---- disks ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def disk_path(self, disk_id: str) -> Path: ...

    @abc.abstractmethod
    async def create_disk(self, disk_id: str, size_gib: int) -> None:
        """Make an empty disk (idempotent: an existing disk is kept as it is)."""

    @abc.abstractmethod
    async def delete_disk(self, disk_id: str) -> None:
        """Remove a disk and its data (idempotent)."""

    @abc.abstractmethod
    async def attach_disk(self, instance_id: str, disk: DiskSpec) -> None:
        """From now on the guest has this disk: plugged in at once if it is running (hot-plug; raises
        GuestError without `hotplug_disks`), or at its next boot, including a boot in progress."""

    @abc.abstractmethod
    async def detach_disk(self, instance_id: str, disk_id: str) -> None:
        """From now on the guest does not have this disk (same rules as attach_disk)."""

    # ---- security groups ------------------------------------------------------------------------

    @abc.abstractmethod
    def set_ingress(self, instance_id: str, policy: IngressPolicy) -> None:
        """From now on new connections to the guest's services are admitted by `policy` (kept across
        power cycles; given before the first boot). A driver without `filters_ingress` ignores it."""

    # ---- power ----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def start(self, spec: GuestSpec) -> None:
        """Power on and return once the guest answers on its address (raises GuestError). Disks are
        grown to the sizes in the spec first, so a resize done while off shows at this boot. Starting
        a running guest does nothing (recovery may repeat a start)."""

    @abc.abstractmethod
    async def stop(self, instance_id: str, mode: StopMode, timeout: float) -> bool:
        """SOFT: press the power button and wait up to `timeout`; returns False if the guest is still
        on. HARD: power off at once; always True."""

    @abc.abstractmethod
    async def power_state(self, instance_id: str) -> PowerState: ...

    @abc.abstractmethod
    async def apply_while_stopped(self, spec: GuestSpec, changes: StoppedChanges) -> None:
        """Write the changes where the guest reads them at its next boot."""

    # ---- the command agent (TAT) -----------------------------------------------------------------

    def agent_online(self, instance_id: str) -> bool:
        """Whether the guest's command agent answers now (only while the guest OS is up)."""
        return False

    async def run_command(self, instance_id: str, script: str, username: str, timeout: float) -> CommandResult:
        """Run a shell script in the guest as `username`; after `timeout` seconds it is killed and the
        result says timed_out. Raises GuestError when the agent is offline, AgentGone when it goes away."""
        raise GuestError(f"the {self.name} driver's guests have no command agent")

    async def attach_console(self, instance_id: str, terminal: ConsoleStream) -> None:
        """Connect a terminal to the guest's console until either side goes (raises GuestError when the
        guest is not running or the driver has no console to offer)."""
        raise GuestError(f"the {self.name} driver offers no console terminal")

    @abc.abstractmethod
    async def destroy(self, instance_id: str) -> None:
        """Power off if needed and forget the guest (disks are deleted separately)."""

    @abc.abstractmethod
    async def close(self, keep_running: bool = False) -> None:
        """The server is going down: guests go off (unless `keep_running` and they can outlive it)."""
