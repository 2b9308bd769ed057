"""QEMU driver benchmark (issue 7): real TCG guests next to the sim driver's in-process guests.

Measured through the drivers' own interface, as the engine's runner calls it:

* boot → guest HTTP (start() of a new instance returns once the agent answers `GET /`), and the emulated
  CPU seconds QEMU spent on it (a load-independent view of the same boot);
* soft stop (ACPI power button → powered off), hard stop, start after stop;
* RSS and idle CPU of one running VM;
* 1, 3 and 6 VMs booting at once (time until all answer), and the RSS of 6 running VMs.

This machine's CPU speed drifts and it is shared, so every figure is a median of `--rounds` runs and the
qemu and sim runs are interleaved. Targets (TCG, 2 cores): boot ≤ 4 s median, soft stop ≤ 0.5 s,
6 VMs running in < 1.5 GiB.

    .venv/bin/python bench/qemu.py               # 5 rounds
    .venv/bin/python bench/qemu.py --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minicvm.config import Settings  # noqa: E402
from minicvm.drivers.base import DiskSpec, GuestSpec, StopMode  # noqa: E402
from minicvm.drivers.qemu.driver import QemuDriver  # noqa: E402
from minicvm.drivers.qemu.image import default_image_dir  # noqa: E402
from minicvm.drivers.sim.driver import SimDriver  # noqa: E402

NET = "127.93"
Driver = QemuDriver | SimDriver


class Specs:
    """Fresh instance ids and loopback addresses, one per boot."""

    def __init__(self) -> None:
        self.n = 0

    def next(self, kind: str) -> GuestSpec:
        self.n += 1
        tag = f"{kind[0]}{self.n:07d}"
        return GuestSpec(instance_id=f"ins-{tag}", host=f"{NET}.{self.n // 250}.{self.n % 250 + 1}", port=8080,
                         cpu=2, memory_gib=4, disks=(DiskSpec(f"disk-{tag}", 50, True),), host_name=tag)


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    began = time.perf_counter()
    await action()
    return time.perf_counter() - began


def proc_stat(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def round_trip(driver: Driver, specs: Specs, kind: str, out: dict[str, list[float]]) -> None:
    """One boot, soft stop, start after stop, hard stop of a new instance."""
    spec = specs.next(kind)
    try:
        out["boot"].append(await timed(lambda: driver.start(spec)))
        if isinstance(driver, QemuDriver):
            out["boot_cpu"].append(proc_stat(driver.vms[spec.instance_id].pid)[0])
        out["soft"].append(await timed(lambda: driver.stop(spec.instance_id, StopMode.SOFT, 10)))
        out["restart"].append(await timed(lambda: driver.start(spec)))
        out["hard"].append(await timed(lambda: driver.stop(spec.instance_id, StopMode.HARD, 0)))
    finally:
        await driver.destroy(spec.instance_id)
        await driver.delete_disk(spec.system_disk.disk_id)


async def at_once(driver: Driver, specs: Specs, kind: str, count: int) -> tuple[float, int]:
    """Boot `count` guests together: seconds until all answer, and their total RSS (qemu only)."""
    batch = [specs.next(kind) for _ in range(count)]
    try:
        began = time.perf_counter()
        await asyncio.gather(*(driver.start(s) for s in batch))
        elapsed = time.perf_counter() - began
        rss = 0
        if isinstance(driver, QemuDriver):
            await asyncio.sleep(1.0)
            rss = sum(proc_stat(driver.vms[s.instance_id].pid)[1] for s in batch)
        return elapsed, rss
    finally:
        await asyncio.gather(*(driver.destroy(s.instance_id) for s in batch))
        for s in batch:
            await driver.delete_disk(s.system_disk.disk_id)


async def idle_figures(driver: QemuDriver, specs: Specs, window: float = 5.0) -> tuple[int, float]:
    spec = specs.next("qemu")
    try:
        await driver.start(spec)
        await asyncio.sleep(3.0)  # let the guest settle after boot
        pid = driver.vms[spec.instance_id].pid
        cpu0, _ = proc_stat(pid)
        await asyncio.sleep(window)
        cpu1, rss = proc_stat(pid)
        return rss, 100 * (cpu1 - cpu0) / window
    finally:
        await driver.destroy(spec.instance_id)
        await driver.delete_disk(spec.system_disk.disk_id)


async def main(rounds: int) -> None:
    settings = Settings()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="minicvm-bench-qemu-") as tmp:
        qemu = QemuDriver(Path(tmp) / "qemu", image_dir=default_image_dir(ROOT / ".minicvm"))
        sim = SimDriver(Path(tmp) / "sim", settings.boot_seconds, settings.shutdown_seconds)
        specs = Specs()
        q: dict[str, list[float]] = {k: [] for k in ("boot", "boot_cpu", "soft", "restart", "hard")}
        s: dict[str, list[float]] = {k: [] for k in ("boot", "boot_cpu", "soft", "restart", "hard")}
        together: dict[tuple[str, int], list[float]] = {}
        rss6: list[int] = []
        try:
            print("preparing the guest image and accelerator…", file=sys.stderr)
            _image, accel = await qemu.prepare()
            for i in range(rounds):
                print(f"round {i + 1}/{rounds}", file=sys.stderr)
                pair = [(qemu, "qemu", q), (sim, "sim", s)]
                for driver, kind, out in pair if i % 2 == 0 else reversed(pair):
                    await round_trip(driver, specs, kind, out)
            rss, idle_cpu = await idle_figures(qemu, specs)
            for count in (1, 3, 6):
                for i in range(max(1, rounds // 2)):
                    print(f"{count} at once, run {i + 1}", file=sys.stderr)
                    seconds, total = await at_once(qemu, specs, "qemu", count)
                    together.setdefault(("qemu", count), []).append(seconds)
                    if count == 6:
                        rss6.append(total)
                    seconds, _ = await at_once(sim, specs, "sim", count)
                    together.setdefault(("sim", count), []).append(seconds)
        finally:
            await qemu.close()
            await sim.close()
    load_after = os.getloadavg()

    def row(name: str, qv: str, sv: str, target: str = "") -> None:
        print(f"| {name:<34} | {qv:>14} | {sv:>12} | {target:<10} |")

    print(f"\nqemu driver ({accel}, {os.cpu_count()} cores) vs sim driver (boot_seconds={settings.boot_seconds:g}, "
          f"shutdown_seconds={settings.shutdown_seconds:g}); medians of {rounds}; "
          f"load average {load_before[0]:.1f} → {load_after[0]:.1f}\n")
    row("figure", "qemu", "sim", "target")
    print(f"|{'-' * 36}|{'-' * 16}|{'-' * 14}|{'-' * 12}|")
    row("boot → guest HTTP", f"{median(q['boot']):.2f} s", f"{median(s['boot']):.2f} s", "≤ 4 s")
    row("  emulated CPU spent on that boot", f"{median(q['boot_cpu']):.2f} s", "-")
    row("soft stop (power button → off)", f"{median(q['soft']):.3f} s", f"{median(s['soft']):.3f} s", "≤ 0.5 s")
    row("hard stop", f"{median(q['hard']):.3f} s", f"{median(s['hard']):.3f} s")
    row("start after stop", f"{median(q['restart']):.2f} s", f"{median(s['restart']):.2f} s")
    row("RSS per running VM", f"{rss / 2**20:.0f} MiB", "in-process")
    row("idle CPU per VM", f"{idle_cpu:.1f} %", "0")
    for count in (1, 3, 6):
        row(f"{count} VM{'s' if count > 1 else ''} booting at once (all up)",
            f"{median(together[('qemu', count)]):.2f} s", f"{median(together[('sim', count)]):.2f} s")
    row("6 VMs running: total RSS", f"{median(rss6) / 2**30:.2f} GiB", "in-process", "< 1.5 GiB")
    print(f"\nraw qemu boots: {', '.join(f'{x:.2f}' for x in q['boot'])} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="runs per figure (medians; at least 5 for the report)")
    asyncio.run(main(parser.parse_args().rounds))
