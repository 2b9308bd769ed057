"""The README's examples are the first thing a newcomer runs: they must work as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support.client import Api
from tests.support.node import NODE_DIR, node_or_skip
from tests.support.readme import blocks, localise
from tests.support.server import SECRET_ID, SECRET_KEY


def test_sdk_example_runs(server, tmp_path) -> None:
    code = localise(blocks("python")[0], server) + "\nprint(' '.join(ids))\n"
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    ids = out.stdout.split()
    api = Api(server.endpoint, SECRET_ID, SECRET_KEY)
    assert len(ids) == 2 and api.wait_state(ids, "STOPPED")


def test_tccli_example_runs(server, tmp_path) -> None:
    commands = [c for c in localise(blocks("sh")[1], server).replace("\\\n", " ").splitlines() if c.strip()]
    tccli = str(Path(sys.executable).with_name("tccli"))
    run = subprocess.run([tccli, *shlex.split(commands[0])[1:]], capture_output=True, text=True, timeout=60,
                         env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr
    instance_id = re.search(r"ins-[a-z0-9]{8}", run.stdout).group(0)
    api = Api(server.endpoint, SECRET_ID, SECRET_KEY)
    api.wait_state([instance_id], "RUNNING")
    stop = shlex.split(commands[1].replace("ins-xxxxxxxx", instance_id))
    result = subprocess.run([tccli, *stop[1:]], capture_output=True, text=True, timeout=60,
                            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert api.wait_state([instance_id], "STOPPED")


def test_tccli_for_the_global_and_as_services(server, tmp_path) -> None:
    block = next(b for b in blocks("sh") if "GetCallerIdentity" in b)
    tccli = str(Path(sys.executable).with_name("tccli"))
    for command in localise(block, server).replace("\\\n", " ").splitlines():
        if command.strip():
            run = subprocess.run([tccli, *shlex.split(command)[1:]], capture_output=True, text=True, timeout=60,
                                 env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
            assert run.returncode == 0, run.stdout + run.stderr
            assert "RequestId" in run.stdout


def test_node_example_runs(server, tmp_path) -> None:
    node = node_or_skip()
    script = tmp_path / "example.js"
    script.write_text(localise(blocks("js")[0], server))
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    out = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60,
                         env=dict(env, NODE_PATH=str(NODE_DIR / "node_modules")))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ap-guangzhou-3" in out.stdout.split()
