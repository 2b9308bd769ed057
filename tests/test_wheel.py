"""Installing minicvm as users do: the built wheel into a fresh venv (pip, the machine's package index and
cache), with everything it needs at run time inside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import httpx

from tests.support.client import Api
from tests.support.server import REPO, free_port

PACKAGED = [
    "minicvm/console/static/index.html", "minicvm/console/static/app.js", "minicvm/console/static/app.css",
    "minicvm/store/migrations/env.py", "minicvm/store/migrations/versions/0001_initial_schema.py",
    "minicvm/drivers/qemu/guest/agent.c", "minicvm/drivers/qemu/guest/init",
    "minicvm/testing/node/redirect.cjs", "minicvm/testing/python_hook/sitecustomize.py",
]


def build_wheel(tmp: Path) -> Path:
    # Built from a copy so that setuptools' build/ and egg-info never touch the working tree.
    source = tmp / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", ".minicvm", "build", "dist",
                                                                 "*.egg-info", "test-artifacts", "node_modules",
                                                                 "__pycache__", "bench"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp / "dist"),
                    str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("minicvm-*.whl")
    return wheel


def test_wheel_installs_into_a_fresh_venv_and_serves(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in PACKAGED if name not in names]
    assert not missing, f"not in the wheel: {missing}"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], capture_output=True,
                               text=True, timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # Nothing of the working tree is importable from there: it runs from the venv alone.
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("MINICVM_", "PYTHON"))}
    version = subprocess.run([str(python), "-c", "import minicvm, importlib.metadata as m; print(minicvm.__file__);"
                              "print([e.value for e in m.entry_points(group='pytest11') if e.name == 'minicvm'])"],
                             cwd=tmp_path, env=clean_env, capture_output=True, text=True, check=True)
    assert str(env_dir) in version.stdout and "minicvm.testing.plugin" in version.stdout, version.stdout
    helped = subprocess.run([str(python), "-m", "minicvm", "--help"], cwd=tmp_path, env=clean_env,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stdout + helped.stderr

    port = free_port()
    secret_id, secret_key = "AKIDwheelTESTsecretid000000000000000", "wheelTESTsecretkey00000000000000"
    serve_env = dict(clean_env, MINICVM_SECRET_ID=secret_id, MINICVM_SECRET_KEY=secret_key,
                     MINICVM_GUEST_NETWORK="127.201.7.0", MINICVM_CLB_NETWORK="127.58.7.0")
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(env_dir / "bin" / "minicvm"), "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "data")], cwd=tmp_path, env=serve_env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        api = Api(f"127.0.0.1:{port}", secret_id, secret_key)
        api.wait(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=60, interval=0.2)
        assert api.cvm("DescribeRegions")["TotalCount"] >= 1  # migrations ran from the wheel
        console = httpx.get(f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"}, follow_redirects=True)
        assert console.status_code == 200 and "<html" in console.text.lower()  # assets from the wheel
        ids = api.run(1)
        assert api.instance(ids[0])["InstanceState"] == "RUNNING"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
    printed = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in printed
    assert "/console/" in printed and "minicvm configure tccli" in printed  # how to reach it, from the start


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
