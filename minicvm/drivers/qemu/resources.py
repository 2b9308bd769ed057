"""How big a guest really is, and whether the host can afford one more.

Instance types sell GiB and cores this machine does not have (2 cores, 24 GiB, dozens of guests),
so a guest gets a scaled-down VM while `GET /` still reports the instance type's CPU and MemoryGiB:

  memory: 32 MiB per GiB sold, never below 80 MiB (72 MiB boots unreliably):
          S5.SMALL1/SMALL2 → 80 MiB, S5.MEDIUM4 → 128 MiB, S5.LARGE16 → 512 MiB, M5.LARGE32 → 1 GiB
  vCPUs:  one per 4 cores sold, at least 1, at most the host's cores (under TCG a second vCPU makes
          boot slower, not faster)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

MIB_PER_GIB = 32
FLOOR_MIB = 80
# What a QEMU process costs beyond guest RAM: TCG translation cache (tb-size=32), device model,
# slirp. Measured RSS of an idle 80 MiB guest is ~170 MB.
QEMU_OVERHEAD_MIB = 96
# Never let guests take the host's last memory.
HOST_RESERVE_MIB = 512
DEFAULT_BUDGET_FRACTION = 0.75
INSUFFICIENT = "ResourceInsufficient.SpecifiedInstanceType"


def guest_memory_mib(memory_gib: int) -> int:
    return max(FLOOR_MIB, MIB_PER_GIB * memory_gib)


def guest_vcpus(cpu: int, host_cpus: int | None = None) -> int:
    host = host_cpus or os.cpu_count() or 1
    return max(1, min(cpu // 4, host))


def footprint_mib(memory_mib: int) -> int:
    """Host memory one running guest of this size is counted for."""
    return memory_mib + QEMU_OVERHEAD_MIB


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                name, _, rest = line.partition(":")
                values[name] = int(rest.split()[0]) // 1024  # kB → MiB
    except (OSError, ValueError, IndexError):
        pass
    return values


@dataclass(frozen=True)
class MemoryBudget:
    """The driver admits a guest only if the guests it runs stay within `budget_mib` (default: 3/4 of
    the host's RAM) and the host still has that much available right now."""

    budget_mib: int

    @classmethod
    def for_host(cls, budget_mib: int | None = None) -> MemoryBudget:
        if budget_mib:
            return cls(budget_mib)
        total = _meminfo().get("MemTotal", 4096)
        return cls(int(total * DEFAULT_BUDGET_FRACTION))

    def refusal(self, instance_id: str, memory_gib: int, running: Iterable[int]) -> str | None:
        """None if the guest may start, else the error message (starting with the API error code)."""
        need = footprint_mib(guest_memory_mib(memory_gib))
        used = sum(running)
        left = self.budget_mib - used
        if need > left:
            return (f"{INSUFFICIENT}: not enough memory on this host to start {instance_id}: it needs about "
                    f"{need} MiB and only {max(left, 0)} MiB of the qemu driver's {self.budget_mib} MiB budget "
                    f"are free ({used} MiB used by running guests)")
        available = _meminfo().get("MemAvailable")
        if available is not None and need > available - HOST_RESERVE_MIB:
            return (f"{INSUFFICIENT}: not enough memory on this host to start {instance_id}: it needs about "
                    f"{need} MiB and the host has {available} MiB available ({HOST_RESERVE_MIB} MiB kept in reserve)")
        return None
