"""Two servers on one machine, as a new user would try it: a second server on the same data dir, guest
network or port stops at once with a message naming the flag to change, before touching anything; a server
stops within seconds on SIGINT/SIGTERM whenever it gets one; and the README's example does not wait forever
for instances that failed to launch."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.client import Api
from tests.support.readme import blocks, localise
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess, free_port

EXIT_WITHIN = 12.0  # the server's own deadline is 10 s after the signal


def serve(data_dir: Path, port: int, guest_network: str, clb_network: str, *extra: str,
          database_url: str = "") -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "minicvm", "serve", "--port", str(port), "--data-dir", str(data_dir),
            "--guest-network", guest_network, "--clb-network", clb_network, "--log-level", "warning",
            "--boot-seconds", "0.3", *extra]
    if database_url:
        args += ["--database-url", database_url]
    env = dict(os.environ, MINICVM_SECRET_ID=SECRET_ID, MINICVM_SECRET_KEY=SECRET_KEY)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def refused(proc: subprocess.Popen[str]) -> str:
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the second server did not stop by itself") from None
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    return " ".join(out.split())


def boot_count(api: Api, instance_id: str) -> int:
    return httpx.get("http://" + api.instance(instance_id)["GuestAddress"] + "/", timeout=10).json()["BootCount"]


def test_a_second_server_stops_before_touching_anything(server: ServerProcess, api: Api, tmp_path: Path) -> None:
    [instance_id] = api.run(1)
    before = boot_count(api, instance_id)
    db_mtime = (server.data_dir / "minicvm.db").stat().st_mtime if server.backend == "sqlite" else None
    # Same data dir (and database), everything else its own.
    out = refused(serve(server.data_dir, free_port(), "127.251.1.0", "127.1.251.0", database_url=server.database_url))
    assert "data dir" in out and "in use by another minicvm server" in out and "--data-dir" in out, out
    assert boot_count(api, instance_id) == before  # it booted none of the first server's guests
    if db_mtime is not None:
        assert (server.data_dir / "minicvm.db").stat().st_mtime == db_mtime  # nor migrated its database
    # Same guest network, own data dir.
    out = refused(serve(tmp_path / "b", free_port(), server.guest_network, "127.1.252.0"))
    assert "guest network" in out and "--guest-network" in out, out
    assert not (tmp_path / "b" / "minicvm.db").exists()
    # Same port.
    out = refused(serve(tmp_path / "c", server.port, "127.251.3.0", "127.1.253.0"))
    assert "--port" in out, out
    assert api.instance(instance_id)["InstanceState"] == "RUNNING"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_server_within_seconds_whenever_it_comes(sig: int, tmp_path: Path) -> None:
    for n, delay in enumerate((0.2, 0.8, 1.5, 3.0)):
        proc = serve(tmp_path / f"d{n}", free_port(), f"127.251.{10 + n}.0", f"127.1.{10 + n}.0")
        time.sleep(delay)  # importing, migrating, starting the runner, or serving
        proc.send_signal(sig)
        start = time.monotonic()
        try:
            out, _ = proc.communicate(timeout=EXIT_WITHIN + 5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"still running {EXIT_WITHIN + 5} s after signal {sig} at {delay} s") from None
        assert time.monotonic() - start < EXIT_WITHIN
        assert "Traceback" not in out or "KeyboardInterrupt" in out


def test_readme_example_stops_on_launch_failed(make_server, tmp_path: Path) -> None:
    srv = make_server()
    # Something else on this machine already listens where the first guests would: their launches fail.
    base = [int(p) for p in srv.guest_network.split(".")]
    squatters = []
    for n in range(1, 5):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((f"{base[0]}.{base[1]}.{base[2]}.{base[3] + n}", 8080))
        sock.listen()
        squatters.append(sock)
    try:
        script = tmp_path / "example.py"
        script.write_text(localise(blocks("python")[0], srv))
        start = time.monotonic()
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "LAUNCH_FAILED" in out.stderr, out.stderr
        assert time.monotonic() - start < 30
        api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
        failed = api.cvm("DescribeInstances")["InstanceSet"]
        assert failed and all(i["InstanceState"] == "LAUNCH_FAILED" for i in failed)
        assert all(re.search(r"in use", i["LatestOperationErrorMsg"] or "") for i in failed), failed
    finally:
        for sock in squatters:
            sock.close()
