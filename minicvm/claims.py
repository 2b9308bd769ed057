"""What one server holds on this machine, taken before it touches anything: its data dir (a lock file
that dies with the process), the loopback networks its guests and load balancers use, and its port.

Two servers on one data dir would migrate the same database and boot the same guests (writing to their
disks); two servers on one guest network would hand out the same addresses. The second one stops at once
with a message that says which flag to change."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path


class ClaimRefused(Exception):
    """Another process holds what this server needs; the message says what to change."""


@dataclass
class Claims:
    held: list[object] = field(default_factory=list)  # kept open for the life of the process

    def data_dir(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "server.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ClaimRefused(f"the data dir {data_dir.resolve()} is in use by another minicvm server (pid {holder}); "
                               "stop that one, or give this one its own --data-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.held.append(fd)

    def network(self, what: str, flag: str, first_address: str) -> None:
        """A machine-wide name for `first_address` (an abstract socket: released when the process ends,
        however it ends, and nothing to clean up)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(f"\0minicvm-{what}-{first_address}")
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            raise ClaimRefused(f"the {what} {first_address} is used by another minicvm server on this machine; "
                               f"give this one another {flag} (e.g. {_next_block(first_address)})") from None
        self.held.append(sock)

    def port(self, host: str, port: int) -> socket.socket:
        """The listening socket, bound now so that a port in use stops the server before anything starts."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ClaimRefused(f"cannot listen on {host}:{port}: {exc.strerror} (another minicvm serve?); "
                               "stop that one or pass another --port") from None
        sock.set_inheritable(True)
        self.held.append(sock)
        return sock


def _next_block(address: str) -> str:
    parts = address.split(".")
    if len(parts) == 4 and parts[1].isdigit() and int(parts[1]) < 255:
        return f"{parts[0]}.{int(parts[1]) + 1}.{parts[2]}.{parts[3]}"
    return "another 127.x.0.0"
