"""A user's own code, as it would be written against the real cloud: default endpoints, credentials from
the environment. minicvm's tests run it unchanged."""

from __future__ import annotations

import json
import subprocess

from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.cvm.v20170312 import cvm_client, models


def _cvm() -> cvm_client.CvmClient:
    return cvm_client.CvmClient(credential.EnvironmentVariableCredential().get_credential(), "ap-guangzhou")


def dev_instances() -> list[models.Instance]:
    request = models.DescribeInstancesRequest()
    request.from_json_string(json.dumps({"Filters": [{"Name": "tag:env", "Values": ["dev"]}], "Limit": 100}))
    return list(_cvm().DescribeInstances(request).InstanceSet)


def stop_dev_instances() -> list[str]:
    """Shut down every running instance tagged env=dev (nights and weekends)."""
    ids = [i.InstanceId for i in dev_instances() if i.InstanceState == "RUNNING"]
    if ids:
        request = models.StopInstancesRequest()
        request.InstanceIds = ids
        request.StopType = "SOFT_FIRST"
        request.StoppedMode = "STOP_CHARGING"
        _cvm().StopInstances(request)
    return ids


def database_instances() -> dict:
    """Something minicvm does not serve (TencentDB for MySQL)."""
    client = CommonClient("cdb", "2017-03-20", credential.EnvironmentVariableCredential().get_credential(),
                          "ap-guangzhou")
    return client.call_json("DescribeDBInstances", {})


def load_balancer_count_with_tccli() -> int:
    out = subprocess.run(["tccli", "clb", "DescribeLoadBalancers"], capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout)["TotalCount"])


def scaling_group_count_with_tccli() -> int:
    out = subprocess.run(["tccli", "as", "DescribeAutoScalingGroups"], capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout)["TotalCount"])


def instance_ids_with_tccli() -> list[str]:
    out = subprocess.run(["tccli", "cvm", "DescribeInstances", "--Limit", "100"], capture_output=True, text=True,
                         check=True)
    return [i["InstanceId"] for i in json.loads(out.stdout)["InstanceSet"]]
