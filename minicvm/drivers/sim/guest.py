"""A simulated guest OS: a tiny HTTP/1.1 server on the instance's own loopback address that speaks
the guest contract (README, "Guests (the guest contract)"). Disk keys live in files under the disk's directory and survive
power-off; memory keys live in a dict that dies with the guest."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

from minicvm.domain.firewall import Protocol
from minicvm.drivers.base import DiskSpec, GuestSpec
from minicvm.drivers.sim import keys, shell
from minicvm.drivers.userdata import ignores_power_button

if TYPE_CHECKING:
    from minicvm.drivers.sim import ssh

MAX_BODY = 16 << 20
# The guest's HTTP service is its web server: security group rules see it as TCP 80 whatever port it is on.
HTTP_SERVICE_PORT = 80

# (peer address, protocol, service port) → whether the instance's security groups accept a new connection.
Admit = Callable[[str, Protocol, int], bool]


def reset_on_close(sock: socket.socket) -> None:
    """Linger 0: closing the socket sends a reset, so a refused client gets no answer of any kind."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

log = logging.getLogger(__name__)
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Said once per server, not once per guest."""
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


class DiskFull(Exception):
    pass


class GuestDisk:
    """One attached disk as the guest sees it: a directory of key files with a byte budget. UsedBytes
    counts key files only; a write goes to a temporary file of its own first (never a key's name), so
    a failed write leaves nothing counted or visible, and the count can never go below zero."""

    def __init__(self, root: Path, size_bytes: int) -> None:
        self.root = root
        self.data = root / "data"
        self.size_bytes = size_bytes
        self.used = 0
        try:
            with os.scandir(self.data) as entries:
                for e in entries:
                    if not keys.is_key_file(e.name):
                        os.unlink(e.path)  # a write cut short by a power-off: it never happened
                    elif e.is_file(follow_symlinks=False):
                        self.used += e.stat(follow_symlinks=False).st_size
        except FileNotFoundError:  # the driver makes it when it creates the disk; a new disk is empty
            self.data.mkdir(parents=True, exist_ok=True)

    def _path(self, key: bytes) -> Path:
        return self.data / keys.file_name(key)

    @staticmethod
    def _size(path: Path) -> int:
        try:
            st = path.lstat()
        except FileNotFoundError:
            return 0
        return st.st_size if stat.S_ISREG(st.st_mode) else 0

    def get(self, key: bytes) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def put(self, key: bytes, value: bytes) -> None:
        path = self._path(key)
        old = self._size(path)
        if self.used - old + len(value) > self.size_bytes:
            raise DiskFull
        tmp = self.data / f"{keys.TEMP_PREFIX}{uuid.uuid4().hex}"
        try:
            tmp.write_bytes(value)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.used += len(value) - old

    def delete(self, key: bytes) -> bool:
        path = self._path(key)
        size = self._size(path)
        if not path.is_file():
            return False
        path.unlink()
        self.used = max(0, self.used - size)
        return True


class GuestMemory:
    """/mem keys: held in the server's own memory, so capped at the instance's memory size."""

    def __init__(self, size_bytes: int) -> None:
        self.size_bytes = size_bytes
        self.values: dict[bytes, bytes] = {}
        self.used = 0

    def get(self, key: bytes) -> bytes | None:
        keys.file_name(key)  # the same key rules as disk keys
        return self.values.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        keys.file_name(key)
        old = len(self.values.get(key, b""))
        if self.used - old + len(value) > self.size_bytes:
            raise DiskFull
        self.values[key] = value
        self.used += len(value) - old

    def delete(self, key: bytes) -> bool:
        keys.file_name(key)
        value = self.values.pop(key, None)
        if value is None:
            return False
        self.used -= len(value)
        return True

    def clear(self) -> None:
        self.values.clear()
        self.used = 0


def read_guest_config(system_disk_root: Path) -> dict[str, Any]:
    path = system_disk_root / ".minicvm" / "config.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


class Guest:
    def __init__(self, spec: GuestSpec, disk_roots: dict[str, Path], bytes_per_gib: int,
                 on_off: Callable[[str, str], None] | None = None, ssh_port: int = 0,
                 admit: Admit | None = None) -> None:
        self.spec = spec
        self.ssh_port = ssh_port
        self.on_off = on_off
        self.admit = admit
        self.bytes_per_gib = bytes_per_gib
        self.disks = {d.disk_id: GuestDisk(disk_roots[d.disk_id], d.size_gib * bytes_per_gib) for d in spec.disks}
        self.system_root = disk_roots[spec.system_disk.disk_id]
        self.memory = GuestMemory(spec.memory_gib * bytes_per_gib)
        self.boot_id = str(uuid.uuid4())
        self.boot_count = self._count_boot()
        self.config = read_guest_config(self.system_root)
        self.ignore_power_button = ignores_power_button(spec.user_data)
        self.started = time.monotonic()
        self.server: asyncio.base_events.Server | None = None
        self.off = asyncio.Event()
        self.shutting_down = False
        self.failing_health = False
        self.ssh: ssh.GuestSSH | None = None

    # ---- what the shell sees (shell.GuestView) --------------------------------------------------

    def host_name(self) -> str:
        return self.spec.host_name or self.spec.instance_id

    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started

    def store(self, kind: str) -> shell.Store:
        return self.memory if kind == "mem" else self.disks[self.spec.system_disk.disk_id]

    def after_shell(self, after: shell.After) -> None:
        """A shell asked the OS to power off or reboot: it does, just after the command's answer is out
        (as a real OS lets the shell's last output and exit status leave first)."""
        loop = asyncio.get_running_loop()
        if after is shell.After.POWEROFF:
            loop.call_later(0.05, self.power_off, "the guest OS powered itself off (poweroff in a shell of the guest)")
        elif after is shell.After.REBOOT:
            loop.call_later(0.05, self.reboot)

    def reboot(self) -> None:
        """A restart from inside the OS: the instance stays RUNNING (no operation of minicvm's), but
        sessions break, memory is lost and the boot reads its disk again (a new boot id)."""
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None
        self.memory.clear()
        self.boot_id = str(uuid.uuid4())
        self.boot_count = self._count_boot()
        self.config = read_guest_config(self.system_root)
        self.started = time.monotonic()
        if not self.off.is_set():
            self._listen_ssh()

    def _listen_ssh(self) -> None:
        if not self.ssh_port:
            return
        try:
            # Imported at the first boot that needs it: a venv made before asyncssh became a dependency
            # still boots its guests (without SSH) instead of failing to import the driver.
            from minicvm.drivers.sim import ssh
        except ImportError:
            _warn_once("guests boot without SSH: asyncssh is not installed (pip install -e . again)")
            return
        if not ssh.GuestSSH.has_room():
            _warn_once("some guests boot without SSH: SSH listeners are limited to a quarter of the descriptor limit "
                       "(raise `ulimit -n` for more)")
            return
        server = ssh.GuestSSH(self.system_root, self.config, self, self.after_shell,
                              admit=lambda peer: self.admits(peer, Protocol.TCP, ssh.SSH_SERVICE_PORT))
        try:
            server.listen(self.spec.host, self.ssh_port)
        except PermissionError:
            # A port below 1024 needs root: the guest boots without SSH rather than not at all.
            _warn_once(f"guests boot without SSH: port {self.ssh_port} needs privileges this server lacks")
            return
        self.ssh = server

    def _count_boot(self) -> int:
        # Every start pays for this, so it is one descriptor rewritten in place: reopening the file with
        # truncation cost ~20x more than the read and write together on this kind of filesystem.
        path = os.path.join(self.system_root, ".minicvm", "boot_count")
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                count = int(os.read(fd, 32) or 0) + 1
            except ValueError:
                count = 1
            data = str(count).encode()
            os.pwrite(fd, data, 0)
            if os.fstat(fd).st_size > len(data):  # a count never gets shorter, unless the file was garbage
                os.ftruncate(fd, len(data))
        finally:
            os.close(fd)
        return count

    def plug(self, disk: DiskSpec, root: Path) -> None:
        self.disks[disk.disk_id] = GuestDisk(root, disk.size_gib * self.bytes_per_gib)
        self.spec = replace(self.spec, disks=(*self.spec.disks, disk))

    def unplug(self, disk_id: str) -> None:
        self.disks.pop(disk_id, None)
        self.spec = replace(self.spec, disks=tuple(d for d in self.spec.disks if d.disk_id != disk_id))

    async def listen(self) -> None:
        # A socket bound here rather than a host name handed to the loop: the loop would resolve the
        # name first and yield, so a start could not finish in one go (and a poll would see STARTING).
        family = socket.AF_INET6 if ":" in self.spec.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.spec.host, self.spec.port))
            sock.listen(128)
            sock.setblocking(False)
            self.server = await asyncio.get_running_loop().create_server(lambda: _GuestProtocol(self), sock=sock)
        except BaseException:
            sock.close()
            raise
        try:
            self._listen_ssh()
        except BaseException:
            self.server.close()
            raise

    def admits(self, peer: str, protocol: Protocol, port: int) -> bool:
        """The accept-time filter every listener of the guest asks about a new connection's source."""
        return self.admit is None or self.admit(peer, protocol, port)

    def refuses(self, transport: asyncio.Transport, protocol: Protocol, port: int) -> bool:
        """For asyncio listeners: a connection the security groups do not accept is reset (no answer of any
        kind), and True is returned."""
        peer = transport.get_extra_info("peername")
        if peer is not None and self.admits(peer[0], protocol, port):
            return False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            reset_on_close(sock)
        transport.abort()
        return True

    def power_off(self, reason: str = "the power was cut") -> None:
        """Pull the plug: the listener and every open connection go at once, memory is lost. The
        driver hears of it once, with the reason."""
        self._cut_network()
        self.memory.clear()
        if not self.off.is_set():
            self.off.set()
            if self.on_off is not None:
                self.on_off(self.spec.instance_id, reason)

    def press_power_button(self, shutdown_seconds: float) -> None:
        if self.ignore_power_button or self.shutting_down or self.off.is_set():
            return
        self.shutting_down = True
        reason = "the guest OS shut down after the power button was pressed"
        if shutdown_seconds > 0:
            asyncio.get_running_loop().call_later(shutdown_seconds, self.power_off, reason)
        else:
            self.power_off(reason)

    def control(self, what: str) -> tuple[int, bytes, str]:
        """Test hooks of the guest contract: make a running guest fail the way real ones do."""
        if what == "unhealthy":
            self.failing_health = True  # the application is broken: /healthz answers 503
        elif what == "healthy":
            self.failing_health = False
        elif what == "poweroff":
            # `poweroff` typed inside the guest: it goes down by itself, no operation of minicvm's.
            asyncio.get_running_loop().call_soon(self.power_off, "the guest OS powered off by itself")
        elif what == "unreachable":
            # The network is gone but the OS runs on: nothing answers, the instance stays RUNNING.
            asyncio.get_running_loop().call_soon(self._cut_network)
        else:
            return 404, b"unknown control\n", "text/plain"
        return 204, b"", "text/plain"

    def _cut_network(self) -> None:
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None
        if self.server is not None:
            self.server.close()
            for proto in list(_GuestProtocol.live.get(id(self), ())):
                proto.abort()

    def describe(self) -> dict[str, Any]:
        return {
            "InstanceId": self.spec.instance_id,
            "BootId": self.boot_id,
            "BootCount": self.boot_count,
            "UptimeSeconds": round(time.monotonic() - self.started, 3),
            "CPU": self.spec.cpu,
            "MemoryGiB": self.spec.memory_gib,
            "HostName": self.spec.host_name,
            "Disks": [
                {"DiskId": d.disk_id, "SizeGiB": d.size_gib, "System": d.system, "UsedBytes": self.disks[d.disk_id].used}
                for d in self.spec.disks
            ],
            "LoginUser": self.config.get("login_user", "root"),
            "PasswordChangedAt": self.config.get("password_changed_at"),
            "KeyFingerprints": self.config.get("key_fingerprints", []),
            "IgnorePowerButton": self.ignore_power_button,
            "Driver": "sim",
        }

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, bytes, str]:
        parts = urlsplit(target)
        path = parts.path
        if path == "/healthz":
            if self.shutting_down or self.failing_health:
                return 503, b"unhealthy\n", "text/plain"
            return 200, b"ok\n", "text/plain"
        if path.startswith("/control/") and method == "POST":
            return self.control(path.removeprefix("/control/"))
        if path == "/" and method in ("GET", "HEAD"):
            return 200, json.dumps(self.describe()).encode(), "application/json"
        kind, _, raw_key = path.lstrip("/").partition("/")
        key = unquote_to_bytes(raw_key)
        if kind not in ("disk", "mem") or not key:
            return 404, b"not found\n", "text/plain"
        if kind == "mem":
            return self._kv(method, key, body, self.memory.get, self.memory.put, self.memory.delete)
        disk_id = parse_qs(parts.query).get("disk", [self.spec.system_disk.disk_id])[0]
        disk = self.disks.get(disk_id)
        if disk is None:
            return 404, f"no disk {disk_id} attached\n".encode(), "text/plain"
        return self._kv(method, key, body, disk.get, disk.put, disk.delete)

    @staticmethod
    def _kv(method, key, body, get, put, delete) -> tuple[int, bytes, str]:  # type: ignore[no-untyped-def]
        try:
            return Guest._kv_checked(method, key, body, get, put, delete)
        except keys.BadKey as exc:
            return exc.status, f"{exc.reason}\n".encode(), "text/plain"

    @staticmethod
    def _kv_checked(method, key, body, get, put, delete) -> tuple[int, bytes, str]:  # type: ignore[no-untyped-def]
        if method in ("GET", "HEAD"):
            value = get(key)
            return (200, value, "application/octet-stream") if value is not None else (404, b"no such key\n", "text/plain")
        if method == "PUT":
            try:
                put(key, body)
            except DiskFull:
                return 507, b"no space left on device\n", "text/plain"
            except OSError as exc:
                return 500, f"i/o error: {exc}\n".encode(), "text/plain"
            return 204, b"", "text/plain"
        if method == "DELETE":
            return (204, b"", "text/plain") if delete(key) else (404, b"no such key\n", "text/plain")
        return 405, b"method not allowed\n", "text/plain"


_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 414: "URI Too Long", 500: "Internal Server Error", 503: "Service Unavailable",
            507: "Insufficient Storage"}


class _GuestProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all a guest contract client needs."""

    live: dict[int, set[_GuestProtocol]] = {}

    def __init__(self, guest: Guest) -> None:
        self.guest = guest
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.guest.refuses(transport, Protocol.TCP, HTTP_SERVICE_PORT):  # type: ignore[arg-type]
            return
        self.transport = transport  # type: ignore[assignment]
        self.live.setdefault(id(self.guest), set()).add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        conns = self.live.get(id(self.guest))
        if conns is not None:
            conns.discard(self)
            if not conns:
                self.live.pop(id(self.guest), None)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self.buffer) > 65536:
                    self._respond(400, b"header too large\n", "text/plain", close=True)
                return
            lines = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self._respond(400, b"bad request line\n", "text/plain", close=True)
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if length < 0:
                self._respond(400, b"bad content-length\n", "text/plain", close=True)
                return
            if length > MAX_BODY:
                self._respond(413, b"body too large\n", "text/plain", close=True)
                return
            if len(self.buffer) < head_end + 4 + length:
                return
            body = bytes(self.buffer[head_end + 4 : head_end + 4 + length])
            del self.buffer[: head_end + 4 + length]
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            status, payload, ctype = self.guest.handle(method, target, body)
            self._respond(status, payload if method != "HEAD" else b"", ctype, close=close,
                          length=len(payload))

    def _respond(self, status: int, body: bytes, ctype: str, close: bool = False, length: int | None = None) -> None:
        assert self.transport is not None
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body) if length is None else length}\r\n"
            f"X-Instance-Id: {self.guest.spec.instance_id}\r\n"
            + ("Connection: close\r\n" if close else "")
            + "\r\n"
        )
        self.transport.write(head.encode() + body)
        if close:
            self.transport.close()
