"""API benchmark (issue 2): minicvm against `moto server` on the same job, over loopback.

Both servers run as real processes on free loopback ports. The bench populates them with the same number
of instances (1,000 then 10,000 by default) and measures, with a raw HTTP client and at 1 and 8 concurrent
clients:

* DescribeInstances (Limit / MaxResults 100): requests/s and p50/p99 latency of the first and the last page;
* StopInstances + StartInstances pairs/s on single instances (stop, wait until stopped, start, wait until running);
* server RSS (VmRSS of the server process; minicvm's simulated guests live inside it).

This machine's CPU speed swings by tens of percent within minutes, so every figure is the median of `--runs`
windows and the two systems' windows are interleaved (who goes first alternates), which keeps each ratio
minicvm/moto fair even when the absolute numbers drift.

minicvm requests are TC3-HMAC-SHA256 signed exactly as the official SDK signs them; moto gets a static
SigV4-shaped Authorization header naming `ec2`, which is all it needs to route to EC2.

    .venv/bin/python bench/api.py                 # full: 1k and 10k instances, 5 runs
    .venv/bin/python bench/api.py --quick         # smoke check: small sizes, 2 short runs
    .venv/bin/python bench/api.py --sizes 1000 --runs 7

Populating moto one instance per call slows down as it grows; if reaching a size takes longer than
`--moto-budget` seconds (10 min), moto is measured at the smaller sizes only and the output says so.
Figures go to stdout as a table and to bench/results/api.json; the exit status is 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_servers import (  # noqa: E402
    PAGE,
    POLL_SECONDS,
    REQUEST_TIMEOUT,
    RESULTS_PATH,
    STATE_TIMEOUT,
    TARGET_DESCRIBE_RATIO,
    TARGET_LAST_PAGE_RATIO,
    TARGET_NO_DROP,
    TARGET_P99_MS,
    TARGET_PAIRS_RATIO,
    TARGET_RSS_BYTES,
    WINDOW_CAP,
    BenchError,
    Conn,
    Minicvm,
    Moto,
    System,
    cpu_seconds,
    median,
    percentile,
)

# ---- measurement windows -------------------------------------------------------------------------------------


@dataclass
class Window:
    rate: float  # operations per second over the window, all clients together
    p50_ms: float
    p99_ms: float
    ops: int
    seconds: float
    cpu_ms: float  # server CPU per operation (user + system, all threads) over the window


def measure(system: System, clients: int, make_op: Callable[[int], Callable[[Conn], None]], duration: float,
            min_each: int) -> Window:
    """`clients` threads, each with its own connection, run their op back to back for `duration` seconds (and at
    least `min_each` times, so that slow moto windows still hold samples), bounded by WINDOW_CAP."""
    barrier = threading.Barrier(clients)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    starts = [0.0] * clients
    ends = [0.0] * clients
    errors: list[BaseException] = []
    failed = threading.Event()

    def client(index: int) -> None:
        conn = Conn(system.port)
        try:
            op = make_op(index)
            if not system.closes_connections:
                op(conn)  # opens the keep-alive connection outside the window (moto closes it anyway)
            barrier.wait(WINDOW_CAP)
            mine = latencies[index]
            starts[index] = begin = time.perf_counter()
            deadline, cap = begin + duration, begin + WINDOW_CAP
            while not failed.is_set():
                now = time.perf_counter()
                if now >= cap or (now >= deadline and len(mine) >= min_each):
                    break
                op(conn)
                mine.append(time.perf_counter() - now)
            ends[index] = time.perf_counter()
        except BaseException as exc:  # reported below, after every thread has finished
            errors.append(exc)
            failed.set()
            barrier.abort()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    cpu_before = cpu_seconds(system.pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join(WINDOW_CAP + 2 * REQUEST_TIMEOUT)
    if errors:
        raise BenchError(f"{system.name}: {errors[0]!r}") from errors[0]
    if any(t.is_alive() for t in threads):
        raise BenchError(f"{system.name}: a client did not finish its window")
    cpu = cpu_seconds(system.pid) - cpu_before  # includes the warm-up requests: a slight overestimate
    samples = [x for per_client in latencies for x in per_client]
    elapsed = max(ends) - min(starts)
    return Window(rate=len(samples) / elapsed, p50_ms=percentile(samples, 0.50) * 1000,
                  p99_ms=percentile(samples, 0.99) * 1000, ops=len(samples), seconds=round(elapsed, 3),
                  cpu_ms=cpu * 1000 / max(1, len(samples)))


def wait_state(system: System, conn: Conn, instance_id: str, wanted: str) -> None:
    deadline = time.monotonic() + STATE_TIMEOUT
    while True:
        state = system.state(conn, instance_id)
        if state == wanted:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{system.name}: {instance_id} still {state}, not {wanted}, after {STATE_TIMEOUT} s")
        time.sleep(POLL_SECONDS)


def pair_op(system: System, clients: int) -> Callable[[int], Callable[[Conn], None]]:
    """Each client cycles over its own few instances, spread over the whole population, so that no two clients
    ever touch the same instance."""
    ids = system.instance_ids
    per_client = 3

    def make(index: int) -> Callable[[Conn], None]:
        mine = [ids[(index + clients * j) * len(ids) // (clients * per_client)] for j in range(per_client)]
        turn = [0]

        def op(conn: Conn) -> None:
            instance_id = mine[turn[0] % per_client]
            turn[0] += 1
            system.stop_instance(conn, instance_id)
            wait_state(system, conn, instance_id, system.stopped)
            system.start_instance(conn, instance_id)
            wait_state(system, conn, instance_id, system.running)

        return op

    return make


# ---- the job -------------------------------------------------------------------------------------------------


@dataclass
class Metric:
    key: str
    kind: str  # "describe" | "pairs"
    clients: int
    page: str = ""

    @property
    def label(self) -> str:
        if self.kind == "describe":
            return f"DescribeInstances {self.page} page, {self.clients} client{'s' * (self.clients > 1)}"
        return f"Stop+Start pairs, {self.clients} client{'s' * (self.clients > 1)}"


METRICS = [Metric(f"describe_{page}_c{c}", "describe", c, page) for c in (1, 8) for page in ("first", "last")] + [
    Metric(f"pairs_c{c}", "pairs", c) for c in (1, 8)]


@dataclass
class Config:
    sizes: list[int]
    runs: int
    duration: float
    moto_budget: float
    minicvm_budget: float
    quick: bool
    results: Path


@dataclass
class Report:
    config: dict[str, Any]
    environment: dict[str, Any]
    phases: list[dict[str, Any]] = field(default_factory=list)
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def phase(report: Report, name: str, started: float, **extra: Any) -> None:
    seconds = round(time.monotonic() - started, 1)
    # Other work on this machine moves the absolute figures; the load average tells a reader how much.
    report.phases.append({"phase": name, "seconds": seconds, "loadavg": os.getloadavg(), **extra})
    print(f"  [{seconds:8.1f} s] {name} {extra if extra else ''}", flush=True)


def run_metric(system: System, metric: Metric, size: int, cfg: Config) -> Window:
    if metric.kind == "describe":
        op = system.describe_op(metric.page, size)
        # At least 3 samples per client in a window; moto at 10k and 8 clients still gets 1 each.
        return measure(system, metric.clients, lambda _i: op, cfg.duration, 3 if metric.clients == 1 else 1)
    return measure(system, metric.clients, pair_op(system, metric.clients), cfg.duration,
                   3 if metric.clients == 1 else 1)


def summarise(windows: list[Window]) -> dict[str, Any]:
    return {
        "rate": median([w.rate for w in windows]),
        "p50_ms": median([w.p50_ms for w in windows]),
        "p99_ms": median([w.p99_ms for w in windows]),
        "cpu_ms": median([w.cpu_ms for w in windows]),
        "runs": [asdict(w) for w in windows],
    }


def bench_size(size: int, mc: Minicvm, moto: Moto, moto_ok: bool, cfg: Config, report: Report) -> None:
    windows: dict[str, dict[str, list[Window]]] = {m.key: {"minicvm": [], "moto": []} for m in METRICS}
    started = time.monotonic()
    for run in range(cfg.runs):
        for index, metric in enumerate(METRICS):
            # Interleave: each metric is measured on both systems back to back, who goes first alternates.
            order: list[System] = [mc, moto] if (run + index) % 2 == 0 else [moto, mc]
            for system in order:
                if system is moto and not moto_ok:
                    continue
                w = run_metric(system, metric, size, cfg)
                windows[metric.key][system.name].append(w)
        line = "  ".join(
            f"{m.key}={windows[m.key]['minicvm'][-1].rate:.0f}"
            + (f"/{windows[m.key]['moto'][-1].rate:.2f}" if moto_ok else "") for m in METRICS)
        print(f"    run {run + 1}/{cfg.runs} (minicvm/moto per s): {line}", flush=True)
    phase(report, f"measure {size}", started)
    result: dict[str, Any] = {"moto_measured": moto_ok, "metrics": {}}
    for metric in METRICS:
        entry: dict[str, Any] = {"label": metric.label, "minicvm": summarise(windows[metric.key]["minicvm"])}
        if moto_ok:
            entry["moto"] = summarise(windows[metric.key]["moto"])
        result["metrics"][metric.key] = entry
    mc_mem = mc.memory()
    result["rss"] = {"minicvm": mc_mem, "live_guests": size}
    if moto_ok:
        result["rss"]["moto"] = moto.memory()
    report.sizes[str(size)] = result


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def evaluate(report: Report, cfg: Config) -> None:
    """Pass/fail against issue 2's targets, on whatever sizes were measured."""
    targets = report.targets
    sizes = [int(s) for s in report.sizes]
    largest = max(sizes)
    smallest = min(sizes)

    def fig(size: int, key: str, system: str, what: str = "rate") -> float | None:
        entry = report.sizes[str(size)]["metrics"][key].get(system)
        return entry[what] if entry else None

    def add(name: str, value: float | None, limit: str, ok: bool | None) -> None:
        targets.append({"target": name, "value": value, "limit": limit,
                        "result": "n/a" if ok is None else ("PASS" if ok else "FAIL")})

    for size in sizes:
        for page in ("first", "last"):
            r = ratio(fig(size, f"describe_{page}_c1", "minicvm"), fig(size, f"describe_{page}_c1", "moto"))
            add(f"describe {page} page ≥ {TARGET_DESCRIBE_RATIO:.0f}× moto, 1 client, {size} inst", r,
                f"≥ {TARGET_DESCRIBE_RATIO:.0f}", None if r is None else r >= TARGET_DESCRIBE_RATIO)
    for size in sizes:
        for page in ("first", "last"):
            p99 = fig(size, f"describe_{page}_c1", "minicvm", "p99_ms")
            add(f"describe {page} page p99 < {TARGET_P99_MS:.0f} ms, 1 client, {size} inst", p99,
                f"< {TARGET_P99_MS:.0f} ms", None if p99 is None else p99 < TARGET_P99_MS)
    for what, name in (("p50_ms", "p50"), ("rate", "req/s")):
        first = fig(largest, "describe_first_c1", "minicvm", what)
        last = fig(largest, "describe_last_c1", "minicvm", what)
        r = ratio(last, first) if what == "p50_ms" else ratio(first, last)
        add(f"last page within {TARGET_LAST_PAGE_RATIO}× of first ({name}), 1 client, {largest} inst", r,
            f"≤ {TARGET_LAST_PAGE_RATIO}", None if r is None else r <= TARGET_LAST_PAGE_RATIO)
    pairs_base = 1000 if 1000 in sizes else smallest
    for clients in (1, 8):
        r = ratio(fig(pairs_base, f"pairs_c{clients}", "minicvm"), fig(pairs_base, f"pairs_c{clients}", "moto"))
        add(f"stop+start ≥ {TARGET_PAIRS_RATIO:.0f}× moto, {clients} client{'s' * (clients > 1)}, {pairs_base} inst",
            r, f"≥ {TARGET_PAIRS_RATIO:.0f}", None if r is None else r >= TARGET_PAIRS_RATIO)
    if largest != pairs_base:
        for clients in (1, 8):
            r = ratio(fig(largest, f"pairs_c{clients}", "minicvm"), fig(pairs_base, f"pairs_c{clients}", "minicvm"))
            add(f"stop+start no drop {pairs_base}→{largest} inst, {clients} client{'s' * (clients > 1)}", r,
                f"≥ {TARGET_NO_DROP}", None if r is None else r >= TARGET_NO_DROP)
            # The two sizes are measured many minutes apart, so the rate ratio carries the machine's drift;
            # server CPU per pair is the steadier witness of whether the work per pair grew.
            small_cpu = fig(pairs_base, f"pairs_c{clients}", "minicvm", "cpu_ms")
            large_cpu = fig(largest, f"pairs_c{clients}", "minicvm", "cpu_ms")
            report.notes.append(f"stop+start at {clients} client{'s' * (clients > 1)}: minicvm server CPU per pair "
                                f"{fmt(small_cpu, 2)} ms at {pairs_base} and {fmt(large_cpu, 2)} ms at {largest} "
                                "instances.")
    rss = report.sizes[str(largest)]["rss"]["minicvm"]["VmRSS"]
    add(f"minicvm RSS < 1 GiB with {largest} live guests (MiB)", rss / (1 << 20), "< 1024 MiB",
        rss < TARGET_RSS_BYTES)
    if largest < 10_000:
        report.notes.append(f"Largest size measured is {largest}, not 10,000: the 10k targets are evaluated at "
                            f"{largest} instances.")


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def print_table(report: Report) -> None:
    rows: list[tuple[str, ...]] = [("instances", "figure", "minicvm", "moto", "minicvm/moto")]
    for size, result in report.sizes.items():
        for key, entry in result["metrics"].items():
            mc, mo = entry["minicvm"], entry.get("moto")
            unit = "req/s" if key.startswith("describe") else "pairs/s"
            figures = (("rate", unit, 1), ("p50_ms", "p50 ms", 2), ("p99_ms", "p99 ms", 2),
                       ("cpu_ms", "server CPU ms/op", 2))
            for what, label, digits in figures:
                rows.append((f"{int(size):,}", f"{entry['label']}: {label}", fmt(mc[what], digits),
                             fmt(mo[what] if mo else None, digits if what != "rate" else 2),
                             fmt(ratio(mc[what], mo[what] if mo else None), 2)))
        rss = result["rss"]
        mc_rss = rss["minicvm"]["VmRSS"] / (1 << 20)
        mo_rss = rss["moto"]["VmRSS"] / (1 << 20) if "moto" in rss else None
        rows.append((f"{int(size):,}", f"server RSS MiB ({rss['live_guests']:,} live guests in minicvm)",
                     fmt(mc_rss), fmt(mo_rss), fmt(ratio(mc_rss, mo_rss), 2)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for n, row in enumerate(rows):
        print("  ".join(c.rjust(w) if i != 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    trows = [("target", "value", "limit", "result")] + [
        (t["target"], fmt(t["value"], 2), t["limit"], t["result"]) for t in report.targets]
    tw = [max(len(r[i]) for r in trows) for i in range(4)]
    for n, row in enumerate(trows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, tw, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in tw))
    loads = [p["loadavg"][0] for p in report.phases]
    print(f"note: 1-minute load average at phase ends {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs "
          "(other work on the machine); rates are medians of interleaved windows, CPU ms/op is less noise-prone.")
    for note in report.notes:
        print(f"note: {note}")
    print()


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke check: 200 and 500 instances, 2 runs of 1 s")
    parser.add_argument("--sizes", default=None, help="instance counts, ascending [1000,10000]")
    parser.add_argument("--runs", type=int, default=None, help="measurement windows per figure (median) [5]")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measurement window [3]")
    parser.add_argument("--moto-budget", type=float, default=600,
                        help="give up populating moto to the next size after this many seconds [600]")
    parser.add_argument("--minicvm-budget", type=float, default=1800, help="bound on populating minicvm [1800]")
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help=f"JSON output [{RESULTS_PATH}]")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ("200,500" if args.quick else "1000,10000")).split(",")]
    if sizes != sorted(sizes) or sizes[0] <= PAGE:
        parser.error(f"--sizes must be ascending and each above {PAGE}")
    runs = args.runs or (2 if args.quick else 5)
    duration = args.duration or (1.0 if args.quick else 3.0)
    return Config(sizes=sizes, runs=runs, duration=duration, moto_budget=args.moto_budget,
                  minicvm_budget=args.minicvm_budget, quick=args.quick, results=args.results)


def moto_version() -> str:
    try:
        from importlib.metadata import version

        return version("moto")
    except Exception:  # only informative
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    report = Report(
        config={"sizes": cfg.sizes, "runs": cfg.runs, "window_seconds": cfg.duration, "quick": cfg.quick,
                "page": PAGE, "clients": [1, 8], "poll_seconds": POLL_SECONDS},
        environment={"python": platform.python_version(), "cpus": os.cpu_count(), "moto": moto_version(),
                     "machine": platform.machine(), "started": datetime.now(UTC).isoformat(timespec="seconds")},
    )
    if cfg.runs < 5 and not cfg.quick:
        report.notes.append(f"only {cfg.runs} runs per figure (the issue asks for ≥5)")
    workdir = Path(tempfile.mkdtemp(prefix="minicvm-bench-"))
    mc, moto = Minicvm(workdir / "minicvm"), Moto(workdir / "moto")
    total_started = time.monotonic()
    try:
        started = time.monotonic()
        mc.start()
        moto.start()
        moto.pick_ami()
        phase(report, "start servers", started, moto_ami=moto.ami)
        moto_ok = True
        for size in cfg.sizes:
            print(f"== {size:,} instances", flush=True)
            started = time.monotonic()
            info = mc.populate(size, cfg.minicvm_budget)
            phase(report, f"populate minicvm to {size}", started, **info)
            if moto_ok:
                started = time.monotonic()
                info = moto.populate(size, cfg.moto_budget)
                phase(report, f"populate moto to {size}", started, **info)
                if not info["complete"]:
                    moto_ok = False
                    report.notes.append(
                        f"moto: populating one instance per RunInstances to {size:,} did not finish within "
                        f"{cfg.moto_budget:.0f} s ({info['instances']:,} instances after {report.phases[-1]['seconds']:.0f} s, "
                        f"~{info['projected_seconds']:.0f} s projected); moto is measured at smaller sizes only.")
                else:
                    moto.check_last_page(size)
            bench_size(size, mc, moto, moto_ok, cfg, report)
        evaluate(report, cfg)
        phase(report, "total", total_started)
        print_table(report)
        cfg.results.parent.mkdir(parents=True, exist_ok=True)
        cfg.results.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
        print(f"figures written to {cfg.results}")
        return 0 if all(t["result"] != "FAIL" for t in report.targets) else 1
    finally:
        for server in (mc, moto):
            try:
                server.stop()
            except Exception as exc:  # the other server must still be stopped
                print(f"could not stop {server.name}: {exc!r}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
