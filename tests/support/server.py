"""A real minicvm server process for tests, on a free port with its own data dir and database."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent.parent
SECRET_ID = "AKIDminicvmTESTsecretid0000000000000"
SECRET_KEY = "minicvmTESTsecretkey000000000000"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_postgres_database() -> str:
    """A new, empty database on the machine's PostgreSQL, so that every server starts clean."""
    import psycopg

    name = "minicvm_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# What `minicvm serve` says when another server holds its networks or port (minicvm/claims.py).
CLAIMS_TAKEN = ("is used by another minicvm server", "cannot listen on")


def random_networks() -> tuple[str, str]:
    """A guest network and a CLB network of their own for one test server."""
    return (f"127.{random.randint(65, 250)}.{random.randint(0, 200)}.0",
            f"127.{random.randint(2, 60)}.{random.randint(0, 250)}.0")


class ServerProcess:
    """`minicvm serve` as a child process. kill() is kill -9; start() again reuses data dir and DB."""

    def __init__(self, data_dir: Path, backend: str = "sqlite", **settings: object) -> None:
        self.data_dir = data_dir
        self.backend = backend
        self.port = free_port()
        # Each server gets its own slice of 127/8 for guests so that servers never collide.
        self.guest_network, self.clb_network = random_networks()
        self.database_url = fresh_postgres_database() if backend == "postgres" else ""
        self.settings = {"boot-seconds": 0.3, "shutdown-seconds": 0.3, "soft-stop-timeout": 1.5, **{
            k.replace("_", "-"): v for k, v in settings.items()}}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self, timeout: float = 30) -> ServerProcess:
        """Start (or restart) the server. A first start that finds its random networks or port taken by
        another test's server (the server refuses them, naming the flag) tries fresh ones."""
        first = self.proc is None
        for _attempt in range(5):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                return self._start(timeout)
            except RuntimeError:
                tail = self.log_path.read_text(errors="replace")[offset:]
                if not first or not any(taken in tail for taken in CLAIMS_TAKEN):
                    raise
                self.port = free_port()
                self.guest_network, self.clb_network = random_networks()
        raise RuntimeError(f"no free networks or port after 5 tries:\n{self.log_path.read_text()[-4000:]}")

    def _start(self, timeout: float) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "minicvm", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
                "--guest-network", self.guest_network, "--clb-network", self.clb_network, "--log-level", "warning"]
        if self.database_url:
            args += ["--database-url", self.database_url]
        for key, value in self.settings.items():
            if isinstance(value, bool):  # switches: --name / --no-name
                args.append(f"--{key}" if value else f"--no-{key}")
            else:
                args += [f"--{key}", str(value)]
        env = dict(os.environ, MINICVM_SECRET_ID=SECRET_ID, MINICVM_SECRET_KEY=SECRET_KEY)
        # qemu-driver servers share the guest image `make guest-image` built instead of each building one.
        env.setdefault("MINICVM_GUEST_IMAGE_DIR", str(REPO / ".minicvm" / "guest-image"))
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"minicvm exited early:\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"minicvm did not come up:\n{self.log_path.read_text()[-4000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown handlers run."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        self.stop()
        if self.database_url:
            drop_postgres_database(self.database_url)

    def assert_clean_log(self) -> None:
        """Never a 500: an unhandled exception anywhere in the server fails the test that caused it."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        assert "Traceback" not in text, f"server logged an exception:\n{text[-6000:]}"

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "minicvm", *args, "--data-dir", str(self.data_dir)]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
