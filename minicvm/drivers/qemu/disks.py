"""Guest disks as raw sparse ext4 files, and everything done to them while their guest is off:
growth (e2fsck + grow the file + resize2fs) and writing files into them with e2tools, which (unlike
debugfs 1.47's mkdir on an existing directory) is safe to repeat. Blocking: run in a thread."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

# Nothing reserved for root (the agent runs as root anyway, and UsedBytes should reach the size);
# lazy init keeps the files sparse; the guest mounts with noinit_itable so it stays that way.
MKFS = ["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1"]
META_DIR = "/.minicvm"  # on the system disk: what the host tells the guest while it is off
CONFIG_PATH = META_DIR + "/config.json"


class DiskError(Exception):
    pass


def _run(args: list[str], ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(args, capture_output=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise DiskError(f"{args[0]} is not installed (apt-get install e2fsprogs e2tools)") from None
    if done.returncode not in ok:
        detail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-2:]
        raise DiskError(f"{args[0]} {args[-1]} failed (exit {done.returncode}): {' / '.join(detail)}")
    return done


def create(path: Path, size_bytes: int) -> None:
    """A new empty ext4 disk; a no-op if the disk exists (creation may be repeated by recovery)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    with open(tmp, "wb") as f:
        f.truncate(size_bytes)
    try:
        _run([*MKFS, str(tmp)])
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def check(path: Path) -> None:
    """Replay the journal and fix what a hard stop left behind before anything edits the disk
    from outside (e2fsck exit 1 = errors corrected, which is fine)."""
    _run(["e2fsck", "-fy", str(path)], ok=(0, 1))


def grow(path: Path, size_bytes: int) -> bool:
    """Grow the file and its filesystem to size_bytes; disks never shrink. True if it grew."""
    if path.stat().st_size >= size_bytes:
        return False
    check(path)
    os.truncate(path, size_bytes)
    _run(["resize2fs", str(path)])
    return True


def read_file(path: Path, inside: str) -> bytes | None:
    with tempfile.TemporaryDirectory(prefix="e2cp-") as tmp:
        out = Path(tmp) / "out"
        _run(["e2cp", f"{path}:{inside}", str(out)])
        return out.read_bytes() if out.exists() else None  # e2cp exits 0 even when it found nothing


def write_file(path: Path, inside: str, content: bytes) -> None:
    parent = inside.rsplit("/", 1)[0] or "/"
    if parent != "/":
        _run(["e2mkdir", f"{path}:{parent}"])
    with tempfile.TemporaryDirectory(prefix="e2cp-") as tmp:
        src = Path(tmp) / "in"
        src.write_bytes(content)
        _run(["e2cp", "-P", "644", "-O", "0", "-G", "0", str(src), f"{path}:{inside}"])


def update_config(path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the system disk's /.minicvm/config.json (the sim guest's file, same keys).
    ASCII-only JSON: the guest agent copies values out of it verbatim."""
    check(path)
    raw = read_file(path, CONFIG_PATH)
    try:
        config: dict[str, Any] = json.loads(raw) if raw else {}
    except ValueError:
        config = {}
    config.update(changes)
    write_file(path, CONFIG_PATH, json.dumps(config, ensure_ascii=True).encode())
    return config
