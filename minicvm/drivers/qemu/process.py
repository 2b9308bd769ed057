"""QEMU processes: started in their own session so they outlive a minicvm restart, recorded in a pid
file (vm.json) beside their QMP socket, and found again by the next driver through both."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; keep a margin


@dataclass
class Vm:
    instance_id: str
    pid: int
    qmp_socket: Path
    state_dir: Path
    footprint_mib: int
    host: str
    port: int
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)  # None once adopted
    event_socket: Path | None = None  # None for VMs started before QEMU had an event monitor
    # Whether its "came up" went out (the driver's events pair up: no "went off" without it).
    announced: bool = field(default=False, compare=False)
    # What QEMU said when it went off (the SHUTDOWN event's reason, or the status that stopped it).
    off_reason: str | None = field(default=None, compare=False)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "vm.json"

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None  # also reaps our own child
        return _pid_is_qemu(self.pid, self.qmp_socket)

    def save(self) -> None:
        record = {"instance_id": self.instance_id, "pid": self.pid, "qmp_socket": str(self.qmp_socket),
                  "footprint_mib": self.footprint_mib, "host": self.host, "port": self.port,
                  "event_socket": str(self.event_socket) if self.event_socket else None}
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.pid_file)

    def kill(self) -> None:
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def wait_exit(self, timeout: float) -> bool:
        """True once the process is gone, False if it is still there after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def remove_runtime_files(self) -> None:
        for path in (self.qmp_socket, self.event_socket, self.pid_file):
            if path is not None:
                path.unlink(missing_ok=True)


def _pid_is_qemu(pid: int, qmp_socket: Path) -> bool:
    """The pid is alive, not a zombie, and still the QEMU that owns this socket (pids get reused)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and str(qmp_socket).encode() in cmdline


def socket_dir(state_root: Path) -> Path:
    """Where QMP sockets go: under the data dir when its path is short enough for a unix socket,
    else a per-data-dir directory in /tmp (the same one every time, so re-adoption finds it)."""
    probe = state_root.resolve() / "ins-xxxxxxxx" / "events.sock"  # the longer of the two names
    if len(str(probe)) <= SOCKET_PATH_MAX:
        return state_root.resolve()
    digest = hashlib.sha256(str(state_root.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"minicvm-qmp-{digest}"


def qmp_socket_path(state_root: Path, instance_id: str) -> Path:
    base = socket_dir(state_root)
    if base == state_root.resolve():
        return base / instance_id / "qmp.sock"
    return base / f"{instance_id}.sock"


def event_socket_path(state_root: Path, instance_id: str) -> Path:
    base = socket_dir(state_root)
    if base == state_root.resolve():
        return base / instance_id / "events.sock"
    return base / f"{instance_id}-events.sock"


def remove_socket_dir(state_root: Path) -> None:
    """Drop the /tmp socket directory once it is empty (the data dir's own one stays)."""
    base = socket_dir(state_root)
    if base != state_root.resolve():
        try:
            base.rmdir()
        except OSError:
            pass  # not empty (other guests) or already gone


def spawn(args: list[str], state_dir: Path) -> subprocess.Popen[bytes]:
    """Start QEMU detached from our session and terminal; its own messages go to qemu.log."""
    with open(state_dir / "qemu.log", "wb") as log:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=state_dir, start_new_session=True, close_fds=True)


def adopt(state_root: Path) -> dict[str, Vm]:
    """The VMs a previous driver left running; stale pid files and sockets are cleaned away."""
    found: dict[str, Vm] = {}
    for pid_file in sorted(state_root.glob("*/vm.json")):
        try:
            record = json.loads(pid_file.read_text())
            vm = Vm(instance_id=record["instance_id"], pid=int(record["pid"]), qmp_socket=Path(record["qmp_socket"]),
                    state_dir=pid_file.parent, footprint_mib=int(record["footprint_mib"]), host=record["host"],
                    port=int(record["port"]),
                    event_socket=Path(record["event_socket"]) if record.get("event_socket") else None,
                    announced=True)
        except (OSError, ValueError, KeyError):
            pid_file.unlink(missing_ok=True)
            continue
        if vm.alive():
            found[vm.instance_id] = vm
        else:
            vm.remove_runtime_files()
    return found


def log_tail(state_dir: Path, name: str = "qemu.log", lines: int = 3) -> str:
    try:
        text = (state_dir / name).read_text(errors="replace")
    except OSError:
        return ""
    return " / ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
