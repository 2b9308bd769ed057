"""SSH into a simulated guest: a real SSH server (asyncssh) on the guest's own address that lets in
exactly who the instance's login settings let in, and runs the small shell (shell.py).

What it reads is what a real guest reads at boot from its system disk (`.minicvm/config.json`, written
by the driver while the instance was stopped): the login user, the password hash and the authorized
public keys. A change made while stopped is therefore seen at the next boot and not before. The host
key is made at the first boot and kept on the system disk, so `known_hosts` stays valid across stops."""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from minicvm.domain.passwords import check_password
from minicvm.drivers.sim import shell
from minicvm.drivers.sim.login import password_hash

log = logging.getLogger(__name__)

HOST_KEY_FILE = "ssh_host_ed25519_key"


def _host_key_path(system_root: Path) -> Path:
    return system_root / ".minicvm" / HOST_KEY_FILE


def make_host_key(system_root: Path) -> asyncssh.SSHKey:
    """A new host key on the system disk (a cloud image's first-boot key generation)."""
    path = _host_key_path(system_root)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="minicvm-sim-guest")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    key.write_private_key(str(tmp))
    tmp.replace(path)
    return key


def host_key(system_root: Path) -> asyncssh.SSHKey:
    try:
        return asyncssh.read_private_key(str(_host_key_path(system_root)))
    except (FileNotFoundError, asyncssh.KeyImportError):
        return make_host_key(system_root)


class LoginSettings:
    """Who may log in, as read at boot."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.user: str = config.get("login_user") or "root"
        self.password_hash: str | None = password_hash(config)
        self.public_keys: list[bytes] = []
        for line in config.get("authorized_keys") or []:
            try:
                self.public_keys.append(asyncssh.import_public_key(line).public_data)
            except (asyncssh.KeyImportError, ValueError):
                log.warning("an authorized key of the guest does not parse; it is ignored")


class _Server(asyncssh.SSHServer):
    def __init__(self, guest_ssh: GuestSSH) -> None:
        self.guest_ssh = guest_ssh
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.guest_ssh.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.guest_ssh.connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True  # everyone authenticates, even the right user

    def password_auth_supported(self) -> bool:
        return self.guest_ssh.login.password_hash is not None

    async def validate_password(self, username: str, password: str) -> bool:
        login = self.guest_ssh.login
        if username != login.user:
            return False
        # scrypt takes tens of milliseconds: off the event loop, which serves every guest and the API.
        return await asyncio.to_thread(check_password, password, login.password_hash)

    def public_key_auth_supported(self) -> bool:
        return bool(self.guest_ssh.login.public_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        login = self.guest_ssh.login
        return username == login.user and key.public_data in login.public_keys


# Security group rules see the SSH service as TCP 22, whatever port it listens on here.
SSH_SERVICE_PORT = 22


def _listener_budget() -> int:
    """How many guests may hold an SSH listener at once: a quarter of the descriptor limit. Every running
    guest already holds one for its HTTP service, and connections need theirs, so at 10,000 guests under
    a 20,000 limit the later guests boot without SSH instead of not booting at all."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft // 4 if soft != resource.RLIM_INFINITY else 1 << 30


class GuestSSH:
    """One guest's SSH service: listening while the guest is up, gone (connections cut) when it is off.

    A boot only binds the port (the first one also makes the host key); the key and the login settings are
    loaded at the first connection,
    so guests nobody logs into (nearly all of them, in tests and benchmarks) cost a socket and no more."""

    def __init__(self, system_root: Path, config: dict[str, Any], view: shell.GuestView,
                 on_after: Callable[[shell.After], None], admit: Callable[[str], bool] | None = None) -> None:
        self.system_root = system_root
        self.admit = admit  # the guest's security groups: whether a connection from this address may pass
        self.config = config  # as read at boot: changes made since wait for the next one
        self.view = view
        self.on_after = on_after
        self.port = 0
        self.sock: socket.socket | None = None
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._key: asyncssh.SSHKey | None = None
        if not _host_key_path(system_root).exists():
            self._key = make_host_key(system_root)  # the first boot
        self._login: LoginSettings | None = None

    listening = 0  # SSH listeners open across every guest of this server

    @classmethod
    def has_room(cls) -> bool:
        return cls.listening < _listener_budget()

    @property
    def login(self) -> LoginSettings:
        if self._login is None:
            self._login = LoginSettings(self.config)
        return self._login

    @property
    def key(self) -> asyncssh.SSHKey:
        if self._key is None:
            self._key = host_key(self.system_root)
        return self._key

    def listen(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
            asyncio.get_running_loop().add_reader(sock.fileno(), self._accept)
        except BaseException:
            sock.close()
            raise
        self.sock, self.port = sock, port
        GuestSSH.listening += 1

    def _accept(self) -> None:
        if self.sock is None:
            return
        try:
            conn, peer = self.sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:  # out of descriptors: the client sees a reset, as from a loaded host
            log.warning("a guest's SSH listener could not accept: %s", exc)
            return
        if self.admit is not None and not self.admit(peer[0]):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, no banner
            conn.close()
            return
        conn.setblocking(False)
        asyncio.get_running_loop().create_task(self._serve(conn))

    async def _serve(self, conn: socket.socket) -> None:
        try:
            await asyncssh.run_server(
                conn, server_factory=lambda: _Server(self), server_host_keys=[self.key],
                process_factory=self._session, encoding="utf-8", line_editor=True,
                # A guest is a small thing: no forwarding, no agent, no X11, no SFTP or SCP.
                agent_forwarding=False, x11_forwarding=False, allow_scp=False, login_timeout=30)
        except (asyncssh.Error, OSError):
            conn.close()  # a failed handshake or login: the client has been told

    def close(self) -> None:
        """The guest is off (or rebooting): nothing answers, open sessions break."""
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
            GuestSSH.listening -= 1
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()

    async def _session(self, process: asyncssh.SSHServerProcess) -> None:
        user = process.get_extra_info("username") or self.login.user
        try:
            if process.command is not None:
                result = await shell.run_script(self.view, user, process.command, process.stdout.write)
                self._finish(process, result)
                return
            process.stdout.write(shell.BANNER)
            while True:
                process.stdout.write(f"{user}@{self.view.host_name()}:~# ")
                try:
                    line = await process.stdin.readline()
                except asyncssh.BreakReceived:
                    continue
                except (asyncssh.TerminalSizeChanged, asyncssh.SignalReceived):
                    continue
                if not line:  # end of input
                    process.exit(0)
                    return
                result = await shell.run_script(self.view, user, line.strip(), process.stdout.write)
                if result.after is not shell.After.NOTHING:
                    self._finish(process, result)
                    return
        except (asyncssh.Error, ConnectionError, BrokenPipeError):
            return

    def _finish(self, process: asyncssh.SSHServerProcess, result: shell.Result) -> None:
        process.exit(result.exit_code)
        self.on_after(result.after)
