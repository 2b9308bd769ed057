"""CLB data-plane benchmark (issue 4): minicvm's HTTP listener against nginx, on loopback.

Three simulated guests (minicvm/drivers/sim/guest.py, one process each, uvloop) are the backends of
(a) a minicvm HTTP listener served by `python -m minicvm.dataplane.standalone` in its own process and
(b) nginx (Debian package) started here with a generated config: upstream keepalive 32,
proxy_http_version 1.1, empty Connection header, X-Forwarded-For. Load comes from `wrk` (Debian) in
a separate process. The runs against a backend directly, nginx and minicvm are interleaved (who goes
first rotates) and medians of `--rounds` runs are reported, because this machine's CPU speed drifts
by tens of percent within minutes.

Two load shapes: `-t2 -c32` (throughput, and latency under that load) and `-t1 -c1` (the latency a
single hop adds when nothing queues). "Added latency" = proxy percentile - direct percentile.

Then the planned-stop experiment: under `-t2 -c32` load one of the three backends is stopped
(powered off: listener closed, connections aborted) and the failed requests (non-2xx + socket errors)
are counted for: no health check; health check (Tencent's fastest settings: interval 3 s, timeout 2 s,
2 failures); drain then stop (with and without health check).

    .venv/bin/python bench/clb.py                  # full: 5 rounds of 5 s, 14 s stop runs
    .venv/bin/python bench/clb.py --quick          # smoke check
    .venv/bin/python bench/clb.py guest ...        # (internal) one backend guest process
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BACKENDS = [("ins-bench001", "127.77.0.11"), ("ins-bench002", "127.77.0.12"), ("ins-bench003", "127.77.0.13")]
BACKEND_PORT = 18080
MINICVM_VIP, NGINX_VIP, PORT = "127.77.1.1", "127.77.2.1", 18000
STOP_PORT = 18001


# -- the backend guest (child process) ---------------------------------------------------------------

def guest_main(instance_id: str, host: str, port: int, root: str) -> None:
    """One sim guest; stdin lines: "off" (pull the plug), "on" (boot again). Answers "ok" per line."""
    import uvloop

    from minicvm.drivers.base import DiskSpec, GuestSpec
    from minicvm.drivers.sim.guest import Guest

    disk = DiskSpec("disk-" + instance_id[4:], 1, True)
    spec = GuestSpec(instance_id, host, port, 1, 1, (disk,))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        guest = Guest(spec, {disk.disk_id: Path(root)}, 1 << 20)
        await guest.listen()
        print("ready", flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).strip():
            if line == b"off":
                guest.power_off()
            elif line == b"on":
                guest = Guest(spec, {disk.disk_id: Path(root)}, 1 << 20)
                await guest.listen()
            print("ok", flush=True)
        guest.power_off()

    uvloop.run(run())


class Child:
    """A child process driven line by line over stdin/stdout."""

    def __init__(self, argv: list[str], ready: str) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if ready not in line:
            self.close()
            raise RuntimeError(f"{argv[:4]} did not start: {line!r}")

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Plane(Child):
    def command(self, **cmd: Any) -> dict[str, Any]:
        reply = json.loads(self.ask(json.dumps(cmd)))
        if not reply.get("ok"):
            raise RuntimeError(f"data plane refused {cmd['op']}: {reply}")
        return reply


# -- configuration -------------------------------------------------------------------------------------

def health(enabled: bool, interval: float = 5, timeout: float = 2, healthy: int = 3, unhealthy: int = 3) -> dict:
    return {"enabled": enabled, "check_type": "HTTP", "interval": interval, "timeout": timeout,
            "healthy_threshold": healthy, "unhealthy_threshold": unhealthy, "http_path": "/healthz",
            "http_code_mask": 2, "http_method": "GET"}


def listener(listener_id: str, port: int, hc: dict) -> dict:
    backends = [{"key": f"{iid}:{BACKEND_PORT}", "instance_id": iid, "host": host, "port": BACKEND_PORT,
                 "weight": 10} for iid, host in BACKENDS]
    return {"listener_id": listener_id, "lb_id": "lb-bench001", "protocol": "HTTP", "vip": MINICVM_VIP,
            "port": port, "routes": [{"location_id": "loc-" + listener_id[4:], "domain": "", "url": "/",
                                      "scheduler": "WRR", "health": hc, "backends": backends}]}


def nginx_conf(prefix: Path, workers: int) -> str:
    servers = "\n".join(f"        server {host}:{BACKEND_PORT} weight=10;" for _, host in BACKENDS)
    return f"""daemon off;
master_process on;
user root;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream backends {{
{servers}
        keepalive 32;
    }}
    server {{
        listen {NGINX_VIP}:{PORT};
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


# -- wrk ---------------------------------------------------------------------------------------------

@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    failed = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        failed += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        failed += sum(int(g) for g in m.groups())
    return WrkResult(rps, p50, p99, requests, failed)


def wrk(url: str, threads: int, conns: int, seconds: float) -> WrkResult:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds:g}s", "--latency", "--timeout", "5s", url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    return parse_wrk(out)


def wait_http(url: str, timeout: float = 10) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# -- the experiments -----------------------------------------------------------------------------------

def throughput(targets: dict[str, str], rounds: int, seconds: float, threads: int, conns: int) -> dict[str, list]:
    results: dict[str, list[WrkResult]] = {name: [] for name in targets}
    names = list(targets)
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            results[name].append(wrk(targets[name], threads, conns, seconds))
        print(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{n} {results[n][-1].rps:,.0f} req/s p50 {results[n][-1].p50_ms:.3f} ms" for n in names), flush=True)
    return results


def med(values: list[float]) -> float:
    return statistics.median(values)


def _load_into(result: list[WrkResult], seconds: float) -> None:
    result.append(wrk(f"http://{MINICVM_VIP}:{STOP_PORT}/", 2, 32, seconds))


def planned_stop(plane: Plane, guests: list[Child], seconds: float, stop_at: float) -> dict[str, WrkResult]:
    scenarios = [
        ("no health check", False, False),
        ("health check", True, False),
        ("drain (no health check)", False, True),
        ("drain + health check", True, True),
    ]
    victim_id = BACKENDS[2][0]
    out: dict[str, WrkResult] = {}
    for n, (name, checks, drain) in enumerate(scenarios):
        lid = f"lbl-stop{n:04d}"
        hc = health(checks, interval=3, timeout=2, healthy=2, unhealthy=2)
        cfg = listener(lid, STOP_PORT, hc)
        plane.command(op="apply", listeners=[cfg])
        if checks:  # start from a settled state: every target Alive
            deadline = time.monotonic() + 30
            while any(plane.command(op="health", listener_id=lid, location_id=cfg["routes"][0]["location_id"],
                                    backend_key=f"{iid}:{BACKEND_PORT}")["health"] != "Alive"
                      for iid, _ in BACKENDS):
                if time.monotonic() > deadline:
                    raise RuntimeError("targets did not become Alive")
                time.sleep(0.2)
        result: list[WrkResult] = []
        load = threading.Thread(target=_load_into, args=(result, seconds))
        load.start()
        time.sleep(stop_at)
        drain_s = 0.0
        if drain:
            drain_s = plane.command(op="drain", instance_id=victim_id, timeout=5)["seconds"]
        guests[2].ask("off")
        load.join()
        guests[2].ask("on")
        if drain:
            plane.command(op="undrain", instance_id=victim_id, rejoin_after_health=True)
        plane.command(op="apply", listeners=[])
        out[name] = result[0]
        print(f"  {name}: {result[0].failed} failed of {result[0].requests}"
              + (f" (drain took {drain_s * 1000:.1f} ms)" if drain else ""), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per throughput run")
    parser.add_argument("--stop-duration", type=float, default=14.0, help="seconds per planned-stop run")
    parser.add_argument("--nginx-workers", default="1", help='nginx worker_processes ("1" = one core, like minicvm)')
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s, 10 s stop runs")
    parser.add_argument("--skip-stop", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.stop_duration = 2, 2.0, 10.0
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install -y nginx wrk")

    work = Path(tempfile.mkdtemp(prefix="minicvm-bench-clb-"))
    children: list[Child] = []
    nginx: subprocess.Popen[bytes] | None = None
    try:
        guests = []
        for iid, host in BACKENDS:
            guest = Child([PY, __file__, "guest", iid, host, str(BACKEND_PORT), str(work / iid)], "ready")
            children.append(guest)
            guests.append(guest)
        config = work / "plane.json"
        config.write_text(json.dumps({"listeners": [listener("lbl-bench001", PORT, health(True))]}))
        plane = Plane([PY, "-m", "minicvm.dataplane.standalone", str(config)], "ready")
        children.append(plane)
        (work / "nginx").mkdir()
        (work / "nginx" / "nginx.conf").write_text(nginx_conf(work / "nginx", args.nginx_workers))
        nginx = subprocess.Popen(["nginx", "-p", str(work / "nginx"), "-c", str(work / "nginx" / "nginx.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        targets = {"direct": f"http://{BACKENDS[0][1]}:{BACKEND_PORT}/", "nginx": f"http://{NGINX_VIP}:{PORT}/",
                   "minicvm": f"http://{MINICVM_VIP}:{PORT}/"}
        for url in targets.values():
            wait_http(url)

        cpu = os.cpu_count()
        print(f"CLB data plane bench: {cpu} CPUs, nginx worker_processes {args.nginx_workers}, "
              f"{args.rounds} interleaved rounds x {args.duration:g} s, medians", flush=True)
        report: dict[str, Any] = {}
        shapes = () if args.skip_throughput else (("loaded", 2, 32), ("single connection", 1, 1))
        for label, threads, conns in shapes:
            print(f"\nwrk -t{threads} -c{conns}:", flush=True)
            res = throughput(targets, args.rounds, args.duration, threads, conns)
            rows = {name: {"rps": med([x.rps for x in rs]), "p50": med([x.p50_ms for x in rs]),
                           "p99": med([x.p99_ms for x in rs]), "failed": sum(x.failed for x in rs)}
                    for name, rs in res.items()}
            report[label] = rows
            d = rows["direct"]
            print(f"  {'':10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'failed':>7}")
            for name in ("direct", "nginx", "minicvm"):
                r = rows[name]
                add = "" if name == "direct" else f"{r['p50'] - d['p50']:>8.3f} {r['p99'] - d['p99']:>8.3f}"
                print(f"  {name:10} {r['rps']:>10,.0f} {r['p50']:>8.3f} {r['p99']:>8.3f} {add:>17} {r['failed']:>7}")
            print(f"  minicvm/nginx requests/s: {rows['minicvm']['rps'] / rows['nginx']['rps']:.2f}")

        if not args.skip_stop:
            print(f"\nplanned stop of 1 of 3 backends under wrk -t2 -c32 ({args.stop_duration:g} s runs, stop at 3 s):",
                  flush=True)
            stop = planned_stop(plane, guests, args.stop_duration, 3.0)
            print("  " + " | ".join(f"{name}: {r.failed} failed / {r.requests}" for name, r in stop.items()))
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        for child in reversed(children):
            child.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "guest":
        guest_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
