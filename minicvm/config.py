"""Server settings: command-line flags win, then MINICVM_* environment variables, then defaults
that work with no setup at all."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get("MINICVM_" + name.upper(), default)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = Path(".minicvm")
    database_url: str = ""  # empty: SQLite file under data_dir
    driver: str = "sim"
    # Simulated hardware timings (seconds). Short, but long enough that STARTING/STOPPING are visible.
    boot_seconds: float = 1.0
    shutdown_seconds: float = 0.5
    soft_stop_timeout: float = 5.0
    # How long disk attach/detach/expand and EIP bind/unbind take, so their -ING states are visible.
    async_op_seconds: float = 0.2
    # CBS ResizeDisk is online on Tencent; set this to make it refuse disks of running instances.
    cbs_resize_requires_stop: bool = False
    # Guests listen on loopback addresses carved out of this /16-sized space, one per instance.
    guest_network: str = "127.64.0.0"
    guest_port: int = 8080
    # Load balancers get their VIPs (loopback addresses) from here, one per load balancer.
    clb_network: str = "127.32.0.0"
    # Planned stops drain CLB targets for up to this many seconds (0 = off; the tag
    # `minicvm:drain-seconds` on a load balancer overrides it).
    drain_seconds: float = 0.0
    # Health-check intervals and timeouts are multiplied by this (tests shrink it; the API keeps
    # Tencent's documented ranges).
    clb_time_scale: float = 1.0
    # How often Auto Scaling looks at its groups when nothing wakes it earlier (seconds).
    as_interval: float = 1.0
    # How many bytes a simulated disk holds per GiB of its size (tests shrink it to fill disks fast).
    sim_bytes_per_gib: int = 1 << 30
    # The qemu driver: where the guest image is cached ("" = <data-dir>/guest-image), kvm|tcg|auto,
    # the memory budget for guests (0 = 3/4 of the host's), bytes per GiB of disk (≥ 16 MiB for ext4).
    guest_image_dir: str = ""
    qemu_accel: str = "auto"
    qemu_memory_mib: int = 0
    qemu_bytes_per_gib: int = 1 << 30
    qemu_boot_timeout: float = 120.0
    max_body_bytes: int = 1 << 20
    signature_window: int = 300
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'minicvm.db').resolve()}"

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Flags (non-None overrides) > environment > defaults."""
        base = cls()
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            default = getattr(base, f.name)
            raw = _env(f.name, "")
            value: object = default
            if raw != "":
                if isinstance(default, bool):
                    value = raw.lower() in ("1", "true", "yes", "on")
                else:
                    value = type(default)(raw) if not isinstance(default, Path) else Path(raw)
            if overrides.get(f.name) is not None:
                value = overrides[f.name]
                if isinstance(default, Path):
                    value = Path(str(value))
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]
