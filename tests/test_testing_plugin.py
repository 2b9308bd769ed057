"""minicvm inside other projects' test suites: the pytest plugin runs a user's unchanged code against
minicvm, the in-process redirect, `minicvm configure tccli`, and a browser landing on `/`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import httpx
import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.cvm.v20170312 import cvm_client, models

from minicvm.testing import GUEST_ADDRESS_WARNING, MiniCvm, UnservedServiceError, redirect
from minicvm.testing.node import node_options
from minicvm.testing.redirect import served_versions
from tests.support.client import Api
from tests.support.node import NODE_DIR, node_or_skip
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess, drop_postgres_database, fresh_postgres_database

USER_PROJECT = Path(__file__).parent / "user_project"
BIN = Path(sys.executable).parent


def test_user_project_runs_unchanged_under_the_plugin(backend: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(USER_PROJECT, project)
    database_url = fresh_postgres_database() if backend == "postgres" else ""
    if database_url:
        with (project / "pytest.ini").open("a") as ini:
            ini.write(f"minicvm_settings =\n    database_url={database_url}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "MINICVM_", "TCCLI_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"], cwd=project,
                                env=env, capture_output=True, text=True, timeout=240)
    finally:
        if database_url:
            drop_postgres_database(database_url)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "4 passed" in output, output
    assert "GuestAddress" not in output and "warnings summary" not in output, output


def test_redirect_sends_default_endpoint_clients_to_minicvm(server: ServerProcess, api: Api) -> None:
    ids = api.run(1)
    with redirect(server.endpoint):
        client = cvm_client.CvmClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou")
        request = models.DescribeInstancesRequest()
        request.InstanceIds = ids
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.filterwarnings("ignore", message=GUEST_ADDRESS_WARNING, category=UserWarning)
            found = client.DescribeInstances(request).InstanceSet
        assert [i.InstanceId for i in found] == ids

        # Without the filter the typed SDK warns about minicvm's extra field: that is what the README explains.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client.DescribeInstances(request)
        assert any("GuestAddress fileds are useless" in str(w.message) for w in caught)

        connections: list[object] = []
        sys.addaudithook(lambda event, args: connections.append(args[1]) if event == "socket.connect" and
                         connections is not None else None)
        unserved = CommonClient("cdb", "2017-03-20", credential.Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou")
        connections.clear()
        with pytest.raises(UnservedServiceError, match="does not serve the `cdb` service"):
            unserved.call_json("DescribeDBInstances", {})
        assert connections == []
    # After the block the SDK is itself again: the same client is no longer taken anywhere.
    with pytest.raises(Exception) as outside:
        unserved.call_json("DescribeDBInstances", {})
    assert not isinstance(outside.value, UnservedServiceError)


def test_node_sdk_with_the_loader_reaches_minicvm(server: ServerProcess, api: Api) -> None:
    node = node_or_skip()
    ids = api.run(1, wait=False)
    # What the fixture puts in the environment of subprocesses, for this server and account.
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    env.update(TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY, TENCENTCLOUD_REGION="ap-guangzhou",
               MINICVM_ENDPOINT=server.endpoint, MINICVM_SERVICES=",".join(served_versions()),
               NODE_OPTIONS=node_options())
    result = subprocess.run([node, str(NODE_DIR / "redirected.js"), *ids], cwd=NODE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"instances: {ids[0]}" in result.stdout
    assert "unserved: refused before connecting" in result.stdout


def test_configure_tccli_sends_every_service_to_minicvm(server: ServerProcess, api: Api, tmp_path: Path) -> None:
    home = tmp_path / "home"
    written = subprocess.run([sys.executable, "-m", "minicvm", "configure", "tccli", "--profile", "local",
                              "--port", str(server.port), "--data-dir", str(server.data_dir),
                              *(["--database-url", server.database_url] if server.database_url else [])],
                             env=dict(os.environ, HOME=str(home)), capture_output=True, text=True, check=True)
    assert "local.configure" in written.stdout
    assert f"tccli as DescribeAutoScalingGroups --profile local --endpoint {server.url}" in written.stdout
    profile = json.loads((home / ".tccli" / "local.configure").read_text())
    for module in ("cvm", "cbs", "vpc", "clb", "autoscaling", "tag", "sts", "cdb"):
        assert profile[module]["endpoint"] == server.url, module

    def tccli(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "TCCLI_"))}
        return subprocess.run([str(BIN / "tccli"), *args, "--profile", "local"], env=dict(env, HOME=str(home)),
                              capture_output=True, text=True, timeout=60)

    lb = api.call("clb", "CreateLoadBalancer", LoadBalancerType="OPEN", LoadBalancerName="via-tccli")
    listed = tccli("clb", "DescribeLoadBalancers", "--LoadBalancerIds", json.dumps(lb["LoadBalancerIds"]))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [b["LoadBalancerName"] for b in json.loads(listed.stdout)["LoadBalancerSet"]] == ["via-tccli"]
    ids = api.run(1, wait=False)
    described = tccli("cvm", "DescribeInstances", "--InstanceIds", json.dumps(ids))
    assert json.loads(described.stdout)["TotalCount"] == 1, described.stdout + described.stderr
    # A service minicvm does not serve answers with minicvm's error, never the real cloud's.
    unserved = tccli("cdb", "DescribeDBInstances")
    assert unserved.returncode != 0
    assert "requestid" in (unserved.stdout + unserved.stderr).lower()


def test_a_browser_on_the_root_lands_on_the_console(server: ServerProcess) -> None:
    page = httpx.get(server.url + "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 302 and page.headers["location"] == "/console/"
    api = httpx.get(server.url + "/")  # a tool without a signature still gets the API's answer
    assert api.status_code == 200 and "Error" in api.json()["Response"]


def test_bad_names_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    refused = subprocess.run([sys.executable, "-m", "minicvm", "configure", "tccli", "--profile", "../evil",
                              "--data-dir", str(tmp_path / "data")], env=dict(os.environ, HOME=str(home)),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "not a profile name" in refused.stdout, refused.stdout + refused.stderr
    assert not home.exists() and not (tmp_path / "data").exists()
    with pytest.raises(TypeError, match="boot_secs"):
        MiniCvm(boot_secs=1)
