"""SSH into sim guests with Debian's own `ssh` client: who may log in is exactly what the API set
(ResetInstancesPassword, AssociateInstancesKeyPairs / DisassociateInstancesKeyPairs) as of the last
boot, the host key outlives stop/start, a stopped instance refuses connections, and `poweroff`
typed inside the guest stops the instance with the cause in its log."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support.client import Api
from tests.support.server import ServerProcess

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs Debian's openssh-client")

PASSWORD = "Passw0rd!first"
NEW_PASSWORD = "Passw0rd!second"


class Ssh:
    """Debian's ssh client against one guest address, with its own known_hosts."""

    def __init__(self, tmp: Path, host: str) -> None:
        self.tmp = tmp
        self.host = host
        self.known_hosts = tmp / "known_hosts"

    def _base(self, user: str) -> list[str]:
        return ["ssh", "-F", "/dev/null", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                "-o", "IdentitiesOnly=yes", f"{user}@{self.host}"]

    def with_key(self, key_file: Path, command: str, user: str = "root") -> subprocess.CompletedProcess[str]:
        args = self._base(user)
        args[1:1] = ["-o", "BatchMode=yes", "-o", "PasswordAuthentication=no", "-i", str(key_file)]
        return subprocess.run([*args, command], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def with_password(self, password: str, command: str, user: str = "root") -> subprocess.CompletedProcess[str]:
        # The real client reads passwords from a terminal or from SSH_ASKPASS; the latter needs no sshpass.
        askpass = self.tmp / "askpass.sh"
        askpass.write_text(f"#!/bin/sh\nprintf '%s\\n' '{password}'\n")
        askpass.chmod(0o700)
        env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
        args = self._base(user)
        args[1:1] = ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                     "-o", "NumberOfPasswordPrompts=1"]
        return subprocess.run([*args, command], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, env=env)


def _host(api: Api, instance_id: str) -> str:
    return api.instance(instance_id)["GuestAddress"].rsplit(":", 1)[0]


def _stop(api: Api, ids: list[str]) -> None:
    api.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
    api.wait_state(ids, "STOPPED")


def _start(api: Api, ids: list[str]) -> None:
    api.cvm("StartInstances", InstanceIds=ids)
    api.wait_state(ids, "RUNNING")


def _private_key(api: Api, tmp: Path, name: str) -> tuple[str, Path]:
    created = api.cvm("CreateKeyPair", KeyName=f"{name}{time.monotonic_ns() % 10**8}", ProjectId=0)["KeyPair"]
    path = tmp / name
    path.write_text(created["PrivateKey"].strip() + "\n")
    path.chmod(0o600)
    return created["KeyId"], path


def test_password_reset_applies_at_next_boot(api: Api, tmp_path: Path) -> None:
    (instance_id,) = api.run(1, LoginSettings={"Password": PASSWORD})
    ssh = Ssh(tmp_path, _host(api, instance_id))
    first = ssh.with_password(PASSWORD, "hostname && echo hello > /disk/greeting && cat /disk/greeting")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[1:] == ["hello"]
    assert ssh.with_password("Wrong!pass1", "hostname").returncode == 255  # refused

    _stop(api, [instance_id])
    api.cvm("ResetInstancesPassword", InstanceIds=[instance_id], Password=NEW_PASSWORD)
    api.wait_operation(instance_id)
    _start(api, [instance_id])
    refused = ssh.with_password(PASSWORD, "hostname")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    # StrictHostKeyChecking=accept-new keeps the first key: a changed host key would fail here.
    ok = ssh.with_password(NEW_PASSWORD, "cat /disk/greeting; cat /mem/nothing; exit 3")
    assert (ok.returncode, ok.stdout) == (3, "hello\nsh: cat: /mem/nothing: No such file or directory\n"), ok.stderr


def test_keys_follow_associate_and_disassociate(api: Api, tmp_path: Path) -> None:
    key_id, key_file = _private_key(api, tmp_path, "first")
    other_id, other_file = _private_key(api, tmp_path, "other")
    (instance_id,) = api.run(1, LoginSettings={"KeyIds": [key_id]})
    ssh = Ssh(tmp_path, _host(api, instance_id))
    assert ssh.with_key(key_file, "whoami").stdout == "root\n"
    assert ssh.with_key(other_file, "whoami").returncode == 255
    assert ssh.with_key(key_file, "whoami", user="ubuntu").returncode == 255  # the image's user only

    _stop(api, [instance_id])
    assert ssh.with_key(key_file, "whoami").returncode == 255  # a stopped instance refuses connections
    api.cvm("AssociateInstancesKeyPairs", InstanceIds=[instance_id], KeyIds=[other_id])
    api.wait_operation(instance_id)
    _start(api, [instance_id])
    assert ssh.with_key(other_file, "whoami").returncode == 0

    _stop(api, [instance_id])
    api.cvm("DisassociateInstancesKeyPairs", InstanceIds=[instance_id], KeyIds=[other_id])
    api.wait_operation(instance_id)
    # Not yet booted: the change waits for the next boot; after it the key is refused.
    _start(api, [instance_id])
    assert ssh.with_key(other_file, "whoami").returncode == 255


def _power_off_log(server: ServerProcess, instance_id: str) -> list[str]:
    url = server.database_url or f"sqlite:///{server.data_dir / 'minicvm.db'}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(
                "SELECT message FROM events WHERE resource_id = :id AND kind = 'GuestPoweredOff'"),
                {"id": instance_id}).scalars())
    finally:
        engine.dispose()


def test_poweroff_inside_the_guest_stops_the_instance(api: Api, server: ServerProcess, tmp_path: Path) -> None:
    key_id, key_file = _private_key(api, tmp_path, "off")
    (instance_id,) = api.run(1, LoginSettings={"KeyIds": [key_id]})
    ssh = Ssh(tmp_path, _host(api, instance_id))
    assert ssh.with_key(key_file, "echo kept > /disk/k").returncode == 0
    began = time.monotonic()
    off = ssh.with_key(key_file, "poweroff")
    assert off.returncode == 0 and "powering off" in off.stdout
    inst = api.wait_state([instance_id], "STOPPED", timeout=2)[instance_id]
    assert time.monotonic() - began < 2
    assert inst["LatestOperation"] == "RunInstances"  # no operation of minicvm's stopped it
    assert any("poweroff" in m for m in _power_off_log(server, instance_id))

    _start(api, [instance_id])  # the host key and the disk outlive the stop
    back = ssh.with_key(key_file, "cat /disk/k")
    assert (back.returncode, back.stdout) == (0, "kept\n"), back.stderr


def test_interactive_session_and_reboot_from_inside(api: Api, tmp_path: Path) -> None:
    key_id, key_file = _private_key(api, tmp_path, "tty")
    (instance_id,) = api.run(1, LoginSettings={"KeyIds": [key_id]})
    ssh = Ssh(tmp_path, _host(api, instance_id))
    boot_id = httpx.get(f"http://{api.instance(instance_id)['GuestAddress']}/").json()["BootId"]
    args = ssh._base("root")
    args[1:1] = ["-tt", "-o", "BatchMode=yes", "-i", str(key_file)]
    session = subprocess.run(args, input="echo in memory > /mem/m\ncat /mem/m\nfrobnicate\nreboot\n",
                             capture_output=True, text=True, timeout=60)
    assert "simulated guest" in session.stdout and "in memory" in session.stdout
    assert "frobnicate: command not found" in session.stdout
    after = api.wait(lambda: _boot_id_changed(api, instance_id, boot_id))
    assert after["BootCount"] >= 2
    assert api.instance(instance_id)["InstanceState"] == "RUNNING"  # a reboot inside the OS is no stop
    gone = ssh.with_key(key_file, "cat /mem/m")
    assert gone.returncode == 1 and "No such file" in gone.stdout  # memory went with the reboot


def _boot_id_changed(api: Api, instance_id: str, boot_id: str) -> dict | None:
    seen = httpx.get(f"http://{api.instance(instance_id)['GuestAddress']}/").json()
    return seen if seen["BootId"] != boot_id else None


def test_binding_keys_turns_password_login_off_and_a_reset_back_on(api: Api, tmp_path: Path) -> None:
    key_id, key_file = _private_key(api, tmp_path, "bind")
    (instance_id,) = api.run(1, LoginSettings={"Password": PASSWORD})
    ssh = Ssh(tmp_path, _host(api, instance_id))
    assert ssh.with_password(PASSWORD, "true").returncode == 0
    _stop(api, [instance_id])
    api.cvm("AssociateInstancesKeyPairs", InstanceIds=[instance_id], KeyIds=[key_id])
    api.wait_operation(instance_id)
    _start(api, [instance_id])
    assert ssh.with_password(PASSWORD, "true").returncode == 255
    assert ssh.with_key(key_file, "true").returncode == 0
    _stop(api, [instance_id])
    api.cvm("ResetInstancesPassword", InstanceIds=[instance_id], Password=NEW_PASSWORD)
    api.wait_operation(instance_id)
    _start(api, [instance_id])
    assert ssh.with_password(NEW_PASSWORD, "true").returncode == 0
