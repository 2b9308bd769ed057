"""Server settings, each declared once: its type, default and help here become the `minicvm serve` flag
(`--boot-seconds`), the environment variable (`MINICVM_BOOT_SECONDS`) and the default `--help` shows, so
the three cannot drift apart. Flags win, then the environment, then the defaults, which work with no setup
at all."""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

ENV_PREFIX = "MINICVM_"



class Driver(StrEnum):
    SIM = "sim"
    QEMU = "qemu"


class QemuAccel(StrEnum):
    AUTO = "auto"
    KVM = "kvm"
    TCG = "tcg"


class LogLevel(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _setting(default: Any, help: str, metavar: str = "") -> Any:
    """A field with the help text its flag shows; `metavar` names the value where the default is empty."""
    return field(default=default, metadata={"help": help, "metavar": metavar})


@dataclass
class Settings:
    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(4566, "Port to listen on.")
    data_dir: Path = _setting(Path(".minicvm"), "Where the database, disks, credentials and logs live.")
    database_url: str = _setting("", "postgresql://user@host:5432/db; empty: SQLite under the data dir.", "URL")
    driver: Driver = _setting(Driver.SIM, "Hypervisor driver: sim (guests inside the server) or qemu (real VMs).")
    log_level: LogLevel = _setting(LogLevel.INFO, "Log level of the server's own log lines.")
    keep_guests_running: bool = _setting(False, "Leave guests running when the server stops (the next start finds them).")
    # Simulated hardware timings: short, but long enough that STARTING/STOPPING can be seen.
    boot_seconds: float = _setting(1.0, "sim: how long a guest takes to boot, seconds.")
    shutdown_seconds: float = _setting(0.5, "sim: how long a guest's OS takes to shut down, seconds.")
    soft_stop_timeout: float = _setting(5.0, "How long a SOFT stop waits for the guest to power off, seconds.")
    # Automation waits to see STOPPING; pulling the plug is instant, so a HARD stop is shown for this long.
    hard_stop_seconds: float = _setting(0.2, "How long a HARD stop shows STOPPING before the guest is off, seconds "
                                             "(0: at once).")
    async_op_seconds: float = _setting(0.2, "How long a disk attach/detach/resize or an EIP bind/unbind takes, seconds.")
    # Tencent resizes online; the switch exists for automation written against providers that do not.
    cbs_resize_requires_stop: bool = _setting(False, "CBS ResizeDisk refuses disks attached to running instances.")
    guest_network: str = _setting("127.64.0.0", "First loopback address of the /16-sized range guests listen on.")
    guest_port: int = _setting(8080, "The port each guest listens on.")
    guest_ssh_port: int = _setting(22, "sim: the port each guest's SSH server listens on (0: no SSH).")
    clb_network: str = _setting("127.32.0.0", "First loopback address for load balancer VIPs, one per load balancer.")
    drain_seconds: float = _setting(0.0, "Drain CLB targets for up to this long before planned stops; 0 = off "
                                         "(the tag minicvm:drain-seconds on a load balancer overrides it).")
    clb_time_scale: float = _setting(1.0, "Multiply health-check intervals and timeouts by this (the API keeps "
                                          "Tencent's ranges; tests shrink the seconds).")
    as_interval: float = _setting(1.0, "Seconds between Auto Scaling passes when no event wakes it earlier.")
    sim_bytes_per_gib: int = _setting(1 << 30, "sim: bytes a disk holds per GiB of its size.")
    guest_image_dir: str = _setting("", "qemu: where the guest image is cached; empty: <data-dir>/guest-image.", "DIR")
    qemu_accel: QemuAccel = _setting(QemuAccel.AUTO, "qemu: kvm, tcg, or auto (probed once per host).")
    qemu_memory_mib: int = _setting(0, "qemu: memory budget for guests, MiB; 0 = 3/4 of the host's RAM.")
    qemu_bytes_per_gib: int = _setting(1 << 30, "qemu: bytes a disk holds per GiB of its size (at least 16 MiB for ext4).")
    qemu_boot_timeout: float = _setting(120.0, "qemu: how long a guest may take to answer after power-on, seconds.")
    max_body_bytes: int = _setting(1 << 20, "Largest API request body accepted, bytes.")
    # What a client without credentials can make the server hold (api/connections.py).
    max_connections: int = _setting(0, "Most open HTTP connections; beyond it new ones are closed at once. "
                                       "0: three quarters of the descriptor limit.")
    max_header_bytes: int = _setting(64 << 10, "Largest request line and headers of one request, bytes.")
    header_timeout: float = _setting(10.0, "Seconds a connection has, from opening or its first byte, to send "
                                           "a request's headers.")
    body_timeout: float = _setting(30.0, "Longest wait for the next piece of a request body, seconds.")
    idle_timeout: float = _setting(5.0, "Seconds a kept-alive connection may stay idle between requests.")
    # /metrics answers anyone who can reach the port, so by default it shows totals only: per-resource
    # labels would list every account's listener, target and instance ids.
    metrics_token: str = _setting("", "Bearer token that unlocks per-resource labels on /metrics; empty: totals only.",
                                  "TOKEN")
    # Per-account quotas on the pools every account shares (services/quotas.py).
    quota_instances: int = _setting(20_000, "Most instances one account may hold (guest addresses are shared).")
    quota_public_ips: int = _setting(100, "Most public IPs (EIPs and instances' public IPs) one account may hold.")
    signature_window: int = _setting(300, "How far a request's X-TC-Timestamp may be from the server's clock, seconds.")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'minicvm.db').resolve()}"

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **flags: object) -> Settings:
        """Flags (those not None) > `MINICVM_*` variables in `environ` (default: the process's) > defaults.
        A variable that does not parse raises SettingError naming it."""
        unknown = set(flags) - {o.name for o in options()}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for option in options():
            if flags.get(option.name) is not None:
                values[option.name] = option.convert(flags[option.name])
            elif env.get(option.env, "") != "":
                values[option.name] = option.parse(env[option.env], source=option.env)
        return cls(**values)  # type: ignore[arg-type]  # each value was converted to its field's type above


class SettingError(ValueError):
    """A setting's value (from a flag or the environment) that does not fit its type."""


@dataclass(frozen=True)
class Option:
    """One setting as the command line and the environment see it."""

    name: str
    kind: type  # str, int, float, bool, Path or a StrEnum
    default: object
    help: str
    choices: tuple[str, ...]
    metavar: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def shown_default(self) -> str:
        """The default as `--help` and the README show it."""
        if self.kind is bool:
            return "on" if self.default else "off"
        return str(self.default) if self.default != "" else '""'

    def parse(self, raw: str, source: str = "") -> object:
        """A value given as text (an environment variable) → the setting's type."""
        where = source or self.flag
        if self.kind is bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise SettingError(f"{where}: expected one of {', '.join(_TRUE + _FALSE)}; got {raw!r}")
        try:
            return self.kind(raw)
        except ValueError:
            expected = f"one of {', '.join(self.choices)}" if self.choices else self.kind.__name__
            raise SettingError(f"{where}: expected {expected}; got {raw!r}") from None

    def convert(self, value: object) -> object:
        """A flag's value (already of the right type, or its text) → the setting's type."""
        return value if isinstance(value, self.kind) else self.parse(str(value))


def _option(f: Field[Any], hint: Any) -> Option:
    choices = tuple(m.value for m in hint) if issubclass(hint, StrEnum) else ()
    assert f.default is not MISSING, f"setting {f.name} needs a default"
    return Option(f.name, hint, f.default, f.metadata["help"], choices, f.metadata["metavar"])


@functools.cache
def options() -> tuple[Option, ...]:
    """Every setting, in declaration order."""
    hints = typing.get_type_hints(Settings)
    return tuple(_option(f, hints[f.name]) for f in fields(Settings))
