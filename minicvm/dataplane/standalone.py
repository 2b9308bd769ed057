"""Serve a DataPlane in its own process, from a JSON file: `python -m minicvm.dataplane.standalone
config.json`. Used by bench/clb.py; also handy for poking at a listener by hand.

The file holds {"listeners": [ListenerConfig as JSON]}. Once bound, one line `{"ready": true}` is
printed. Then each line on stdin is a command, answered by one JSON line on stdout:
  {"op": "apply", "listeners": [...]}      {"op": "drain", "instance_id": "...", "timeout": 5}
  {"op": "undrain", "instance_id": "...", "rejoin_after_health": true}
  {"op": "health", "listener_id": "...", "location_id": null, "backend_key": "..."}
  {"op": "metrics"}
End of stdin, SIGTERM or SIGINT stop the process after closing every socket."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
from typing import Any

from minicvm.dataplane.model import Backend, HealthCheckConfig, ListenerConfig, Route
from minicvm.dataplane.plane import DataPlane
from minicvm.fdlimit import raise_fd_limit


def _health(data: dict[str, Any] | None) -> HealthCheckConfig | None:
    return HealthCheckConfig(**data) if data is not None else None


def _backends(items: list[dict[str, Any]]) -> tuple[Backend, ...]:
    return tuple(Backend(**b) for b in items)


def listener_from_json(data: dict[str, Any]) -> ListenerConfig:
    routes = tuple(Route(location_id=r["location_id"], domain=r.get("domain", ""), url=r.get("url", "/"),
                         scheduler=r.get("scheduler", "WRR"), health=_health(r["health"]),  # type: ignore[arg-type]
                         backends=_backends(r.get("backends", [])))
                   for r in data.get("routes", []))
    return ListenerConfig(listener_id=data["listener_id"], lb_id=data.get("lb_id", ""), protocol=data["protocol"],
                          vip=data["vip"], port=data["port"], scheduler=data.get("scheduler", "WRR"),
                          health=_health(data.get("health")), backends=_backends(data.get("backends", [])),
                          routes=routes, all_dead_policy=data.get("all_dead_policy", "fail_open"))


async def _command(plane: DataPlane, cmd: dict[str, Any]) -> dict[str, Any]:
    op = cmd.get("op")
    if op == "apply":
        await plane.apply([listener_from_json(item) for item in cmd["listeners"]])
        return {"ok": True}
    if op == "drain":
        loop = asyncio.get_running_loop()
        start = loop.time()
        await plane.drain(cmd["instance_id"], float(cmd.get("timeout", 10)))
        return {"ok": True, "seconds": round(loop.time() - start, 4)}
    if op == "undrain":
        plane.undrain(cmd["instance_id"], bool(cmd.get("rejoin_after_health", True)))
        return {"ok": True}
    if op == "health":
        return {"ok": True, "health": plane.health(cmd["listener_id"], cmd.get("location_id"), cmd["backend_key"])}
    if op == "metrics":
        return {"ok": True, "metrics": [dataclasses.asdict(m) for m in plane.metrics()]}
    return {"ok": False, "error": f"unknown op {op!r}"}


async def serve(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    plane = DataPlane()
    try:
        await plane.apply([listener_from_json(item) for item in config.get("listeners", [])])
        print(json.dumps({"ready": True}), flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        stopper = loop.create_task(stop.wait())
        while not stop.is_set():
            line_task = loop.create_task(reader.readline())
            done, _ = await asyncio.wait({line_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if line_task not in done:
                line_task.cancel()
                break
            line = line_task.result()
            if not line:
                break
            try:
                reply = await _command(plane, json.loads(line))
            except Exception as exc:  # report, keep serving
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)
        stopper.cancel()
    finally:
        await plane.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m minicvm.dataplane.standalone CONFIG.json")
    with open(args[0]) as f:
        config = json.load(f)
    raise_fd_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))


if __name__ == "__main__":
    main()
