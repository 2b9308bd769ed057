"""Talking to a server the way users do: the official SDK (CommonClient for raw responses, the typed
clients where model compatibility matters) and tccli."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

VERSIONS = {"cvm": "2017-03-12", "cbs": "2017-03-12", "vpc": "2017-03-12", "clb": "2018-03-17", "as": "2018-04-19",
            "sts": "2018-08-13", "tag": "2018-08-13", "tat": "2020-10-28",
            "cam": "2019-01-16", "cloudaudit": "2019-03-19"}
IMAGE = "img-eb30mz89"
ZONE = "ap-guangzhou-3"

SdkError = TencentCloudSDKException


class Api:
    def __init__(self, endpoint: str, secret_id: str, secret_key: str, region: str = "ap-guangzhou",
                 method: str = "POST", language: str = "en-US") -> None:
        self.endpoint = endpoint
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.region = region
        self.cred = credential.Credential(secret_id, secret_key)
        self.profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint, reqMethod=method,
                                                             reqTimeout=30),
                                     language=language)
        self._clients: dict[str, CommonClient] = {}

    def client(self, service: str) -> CommonClient:
        if service not in self._clients:
            self._clients[service] = CommonClient(service, VERSIONS[service], self.cred, self.region, self.profile)
        return self._clients[service]

    def call(self, service: str, action: str, **params: Any) -> dict[str, Any]:
        return self.client(service).call_json(action, params)["Response"]

    def cvm(self, action: str, **params: Any) -> dict[str, Any]:
        return self.call("cvm", action, **params)

    def error(self, service: str, action: str, **params: Any) -> SdkError:
        """The call must fail; returns the SDK's exception (code, message, request id)."""
        try:
            result = self.call(service, action, **params)
        except TencentCloudSDKException as exc:
            return exc
        raise AssertionError(f"{action} unexpectedly succeeded: {result}")

    # ---- instance helpers ----

    def run(self, count: int = 1, wait: bool = True, **params: Any) -> list[str]:
        params.setdefault("Placement", {"Zone": ZONE})
        params.setdefault("ImageId", IMAGE)
        params.setdefault("InstanceType", "S5.MEDIUM4")
        params.setdefault("SystemDisk", {"DiskType": "CLOUD_PREMIUM", "DiskSize": 50})
        ids = self.cvm("RunInstances", InstanceCount=count, **params)["InstanceIdSet"]
        if wait:
            self.wait_state(ids, "RUNNING")
        return ids

    def instances(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        found = self.cvm("DescribeInstances", InstanceIds=ids, Limit=100)["InstanceSet"]
        return {i["InstanceId"]: i for i in found}

    def instance(self, instance_id: str) -> dict[str, Any]:
        return self.instances([instance_id])[instance_id]

    def wait(self, predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(interval)

    def wait_state(self, ids: list[str], state: str, timeout: float = 30) -> dict[str, dict[str, Any]]:
        """Until every instance is in `state` with its latest operation finished."""
        def done() -> dict[str, dict[str, Any]] | None:
            found = self.instances(ids)
            ok = all(i["InstanceState"] == state and i["LatestOperationState"] != "OPERATING"
                     for i in found.values()) and len(found) == len(ids)
            return found if ok else None

        return self.wait(done, timeout)

    def wait_operation(self, instance_id: str, timeout: float = 30) -> dict[str, Any]:
        return self.wait(lambda: (i := self.instance(instance_id))["LatestOperationState"] != "OPERATING" and i,
                         timeout)

    def wait_gone(self, ids: list[str], timeout: float = 30) -> None:
        self.wait(lambda: not self.instances(ids), timeout)


def tccli(server_endpoint: str, secret_id: str, secret_key: str, service: str, action: str, *args: str,
          home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run tccli exactly as a user would, against the local endpoint (scheme written into it)."""
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = str(home)
    cmd = [str(Path(sys.executable).with_name("tccli")), service, action, "--endpoint", f"http://{server_endpoint}",
           "--region", "ap-guangzhou", "--secretId", secret_id, "--secretKey", secret_key, "--language", "en-US",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def tccli_json(*args: Any, **kwargs: Any) -> dict[str, Any]:
    result = tccli(*args, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"tccli failed ({result.returncode}): {result.stdout}{result.stderr}")
    return json.loads(result.stdout)


def other_account(server: Any) -> Api:
    """A brand-new account made with `minicvm accounts create`, and a client for it."""
    name = f"other{time.monotonic_ns()}"
    out = server.run_cli("accounts", "create", name).stdout
    secret_id = re.search(r"SecretId:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    secret_key = re.search(r"SecretKey:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    return Api(server.endpoint, secret_id, secret_key)
