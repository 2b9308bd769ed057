"""A minicvm server for a test suite or a script: its own process, free port, temporary data dir."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minicvm.testing.redirect import Redirect, served_versions

REGION = "ap-guangzhou"
# The SDK's typed models warn about every field they do not know; DescribeInstances carries minicvm's
# extra `GuestAddress` (read through CommonClient or the raw JSON), so every typed call would warn.
GUEST_ADDRESS_WARNING = r".*GuestAddress fileds are useless"

# Short but non-zero, so PENDING/STOPPING are still seen by code that waits for them.
FAST_SETTINGS: Mapping[str, object] = {
    "boot_seconds": 0.1,
    "shutdown_seconds": 0.1,
    "soft_stop_timeout": 1.0,
    "hard_stop_seconds": 0.05,
    "async_op_seconds": 0.05,
    "as_interval": 0.2,
    "clb_time_scale": 0.1,
}


def ignore_guest_address_warning() -> None:
    warnings.filterwarnings("ignore", message=GUEST_ADDRESS_WARNING, category=UserWarning)


# What `minicvm serve` says when another server holds its networks or port (minicvm/claims.py).
_CLAIMS_TAKEN = ("is used by another minicvm server", "cannot listen on")


def _random_networks() -> dict[str, str]:
    return {"guest_network": f"127.{random.randint(65, 250)}.{random.randint(0, 200)}.0",
            "clb_network": f"127.{random.randint(2, 60)}.{random.randint(0, 250)}.0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _random_key(prefix: str, n: int) -> str:
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


@dataclass
class Account:
    """One minicvm account reached over HTTP with the official SDK."""

    endpoint: str
    secret_id: str
    secret_key: str
    region: str = REGION
    name: str = "default"
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A `CommonClient` for a service minicvm serves (cvm, cbs, vpc, clb, as, …), bound to this account."""
        if service not in self._clients:
            from tencentcloud.common import credential
            from tencentcloud.common.common_client import CommonClient
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile

            versions = served_versions()
            if service not in versions:
                raise ValueError(f"minicvm does not serve {service!r}; it serves {', '.join(sorted(versions))}")
            profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=self.endpoint, reqTimeout=30))
            self._clients[service] = CommonClient(service, versions[service],
                                                  credential.Credential(self.secret_id, self.secret_key),
                                                  self.region, profile)
        return self._clients[service]

    def call(self, service: str, action: str, **params: Any) -> dict[str, Any]:
        """The action's `Response` object; errors raise the SDK's TencentCloudSDKException."""
        return self.client(service).call_json(action, params)["Response"]  # type: ignore[no-any-return]

    def instances(self, instance_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(instance_ids)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 100):
            page = self.call("cvm", "DescribeInstances", InstanceIds=ids[start:start + 100], Limit=100)
            found.update({i["InstanceId"]: i for i in page["InstanceSet"]})
        return found

    def wait_for(self, instance_ids: Iterable[str], state: str, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        """Until every instance is in `state` with no operation in progress; returns them as DescribeInstances
        shows them. `state="TERMINATED"` waits until they are gone. An instance that fails to launch while
        waited for as RUNNING ends the wait at once."""
        ids = list(instance_ids)
        deadline = time.monotonic() + timeout
        while True:
            found = self.instances(ids)
            if state == "TERMINATED":
                if not found:
                    return {}
            else:
                failed = [i for i, d in found.items() if d["InstanceState"] == "LAUNCH_FAILED" and state != "LAUNCH_FAILED"]
                if failed:
                    raise RuntimeError(f"instances failed to launch: {', '.join(failed)}")
                if len(found) == len(ids) and all(d["InstanceState"] == state and d["LatestOperationState"] != "OPERATING"
                                                  for d in found.values()):
                    return found
            if time.monotonic() > deadline:
                seen = {i: d["InstanceState"] for i, d in found.items()}
                raise TimeoutError(f"instances not {state} within {timeout} s: {seen}")
            time.sleep(0.05)

    def environment(self) -> dict[str, str]:
        """What the SDKs and tccli read for credentials and region."""
        return {"TENCENTCLOUD_SECRET_ID": self.secret_id, "TENCENTCLOUD_SECRET_KEY": self.secret_key,
                "TENCENTCLOUD_REGION": self.region}


class MiniCvm:
    """`minicvm serve` in a child process on a free port, with its own temporary data dir (removed at
    stop) and the sim driver, fast timings unless `settings` say otherwise. `settings` are `Settings`
    field names (boot_seconds=1.0, database_url=…)."""

    def __init__(self, data_dir: Path | None = None, **settings: object) -> None:
        from dataclasses import fields

        from minicvm.config import Settings

        unknown = sorted(set(settings) - {f.name for f in fields(Settings)})
        if unknown:
            raise TypeError(f"not minicvm settings: {', '.join(unknown)} (see `minicvm serve --help`, names with _)")
        self._own_dir = data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="minicvm-")) if data_dir is None else data_dir
        self.port = _free_port()
        self._chosen_networks = not {"guest_network", "clb_network"} & set(settings)
        self.settings: dict[str, object] = {
            **FAST_SETTINGS,
            # Every server gets its own slice of 127/8 for guests and VIPs so that servers never collide.
            **_random_networks(),
            **settings,
            "host": "127.0.0.1", "port": self.port, "data_dir": self.data_dir, "driver": settings.get("driver", "sim"),
        }
        self.account = Account(f"127.0.0.1:{self.port}", _random_key("AKID", 32), _random_key("", 32))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "server.log"

    # -- the default account, for convenience --------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self.account.endpoint

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def secret_id(self) -> str:
        return self.account.secret_id

    @property
    def secret_key(self) -> str:
        return self.account.secret_key

    @property
    def region(self) -> str:
        return self.account.region

    def client(self, service: str) -> Any:
        return self.account.client(service)

    def call(self, service: str, action: str, **params: Any) -> dict[str, Any]:
        return self.account.call(service, action, **params)

    def wait_for(self, instance_ids: Iterable[str], state: str, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        return self.account.wait_for(instance_ids, state, timeout)

    # -- the process ----------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> MiniCvm:
        """Start the server; if another server on this machine already holds the randomly chosen networks
        or port (the server refuses them at once, naming the flag), try fresh ones."""
        for _attempt in range(5):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                return self._start(timeout)
            except RuntimeError:
                tail = self.log_path.read_text(errors="replace")[offset:] if self.log_path.exists() else ""
                if not any(taken in tail for taken in _CLAIMS_TAKEN):
                    raise
                self.port = _free_port()
                self.settings["port"] = self.port
                self.account = Account(f"127.0.0.1:{self.port}", self.account.secret_id, self.account.secret_key)
                if self._chosen_networks:
                    self.settings.update(_random_networks())
        raise RuntimeError(f"minicvm found no free port or networks in 5 tries:\n{self.log_tail()}")

    def _start(self, timeout: float) -> MiniCvm:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MINICVM_SECRET_ID=self.secret_id, MINICVM_SECRET_KEY=self.secret_key)
        # Settings come through the environment: every Settings field has a MINICVM_* variable.
        for name, value in self.settings.items():
            env["MINICVM_" + name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "minicvm", "serve", "--log-level", "warning"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"minicvm exited at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"minicvm did not answer within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> MiniCvm:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- accounts -------------------------------------------------------------------------------------

    def create_account(self, name: str | None = None) -> Account:
        """A new account with its own AppId and keys: nothing of any other account is visible to it
        (what `minicvm accounts create` does, without starting a process)."""
        from minicvm import accounts
        from minicvm.config import Settings
        from minicvm.store.db import Store

        name = name or f"test-{secrets.token_hex(6)}"
        settings = Settings.load(data_dir=self.data_dir, database_url=str(self.settings.get("database_url", "")) or None)
        store = Store(settings.db_url)
        try:
            created = accounts.create(store, name)
        finally:
            store.dispose()
        return Account(self.endpoint, created.secret_id, created.secret_key, name=name)

    # -- pointing other code at it --------------------------------------------------------------------

    def redirect(self) -> Redirect:
        """Tencent Cloud SDK requests of this process go here (see minicvm.testing.redirect)."""
        return Redirect(self.endpoint)

    def environment(self, account: Account | None = None) -> dict[str, str]:
        """Variables for code and subprocesses (tccli, Python, Node.js) that should use this server: credentials
        and region as the SDKs read them, MINICVM_ENDPOINT for `redirect()`, the Node.js loader, and a
        sitecustomize that redirects Python subprocesses (tccli included) the way this process is."""
        from minicvm.testing.node import node_options

        env = (account or self.account).environment()
        env["MINICVM_ENDPOINT"] = self.endpoint
        env["MINICVM_SERVICES"] = ",".join(sorted(served_versions()))
        env["NODE_OPTIONS"] = node_options(os.environ.get("NODE_OPTIONS", ""))
        env["PYTHONPATH"] = python_path(os.environ.get("PYTHONPATH", ""))
        return env


PYTHON_HOOK = Path(__file__).with_name("python_hook")


def python_path(existing: str = "") -> str:
    """PYTHONPATH with the redirecting sitecustomize first (once)."""
    parts = [p for p in existing.split(os.pathsep) if p and p != str(PYTHON_HOOK)]
    return os.pathsep.join([str(PYTHON_HOOK), *parts])


@contextmanager
def pointed_at(server: MiniCvm) -> Iterator[MiniCvm]:
    """While the block runs, everything in this process and its future subprocesses that talks to Tencent
    Cloud the default way talks to `server`: SDK requests are redirected, the environment carries its
    credentials and region, tccli finds a profile (`TCCLI_PROFILE`) that points every service at it, and
    Node.js preloads the redirect loader."""
    from minicvm import tccli_profile

    profile_name = f"minicvm-{server.port}"
    env = {**server.environment(), "TCCLI_PROFILE": profile_name}
    saved = {name: os.environ.get(name) for name in env}
    try:
        tccli_profile.write(tccli_profile.TccliProfile(profile_name, server.url, server.secret_id, server.secret_key))
        os.environ.update(env)
        with server.redirect():
            yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        tccli_profile.remove(profile_name)


@contextmanager
def running(redirect: bool = False, **settings: Any) -> Iterator[MiniCvm]:
    """A minicvm server for the duration of a `with` block (unittest, scripts). With `redirect=True`
    unchanged code in the block reaches it as under the pytest fixture (see `pointed_at`)."""
    ignore_guest_address_warning()
    with MiniCvm(**settings) as server:
        if redirect:
            with pointed_at(server):
                yield server
        else:
            yield server
