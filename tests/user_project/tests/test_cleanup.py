"""The user's tests, with minicvm's pytest plugin (its `minicvm` fixture) and nothing else."""

import socket
import sys

import pytest
from devtools import cleanup

from minicvm.testing import UnservedServiceError


def launch(minicvm, env: str, count: int = 1) -> list[str]:
    return minicvm.call("cvm", "RunInstances", InstanceCount=count, ImageId="img-eb30mz89",
                        Placement={"Zone": "ap-guangzhou-3"}, InstanceType="S5.MEDIUM4",
                        TagSpecification=[{"ResourceType": "instance", "Tags": [{"Key": "env", "Value": env}]}],
                        )["InstanceIdSet"]


def test_stops_only_dev_instances(minicvm):
    dev, prod = launch(minicvm, "dev", 2), launch(minicvm, "prod")
    minicvm.wait_for(dev + prod, "RUNNING")

    assert sorted(cleanup.stop_dev_instances()) == sorted(dev)

    stopped = minicvm.wait_for(dev, "STOPPED")
    assert {i["StopChargingMode"] for i in stopped.values()} == {"STOP_CHARGING"}
    assert minicvm.wait_for(prod, "RUNNING")
    assert cleanup.stop_dev_instances() == []


def test_tccli_subprocesses_reach_minicvm(minicvm):
    ids = launch(minicvm, "dev")
    assert set(ids) <= set(cleanup.instance_ids_with_tccli())
    assert cleanup.load_balancer_count_with_tccli() == 0
    assert cleanup.scaling_group_count_with_tccli() == 0  # tccli resets `as` in its profiles: redirected in-process


def test_unserved_service_fails_before_any_connection(minicvm):
    connections = []

    def watch(event, args):
        if event == "socket.connect":
            connections.append(args[1])

    sys.addaudithook(watch)
    with pytest.raises(UnservedServiceError, match="does not serve the `cdb` service"):
        cleanup.database_instances()
    assert connections == []
    with pytest.raises(UnservedServiceError):  # code that goes around the SDK is stopped too
        socket.getaddrinfo("cdb.tencentcloudapi.com", 443)


def test_fresh_account_sees_nothing_of_others(minicvm, minicvm_account):
    launch(minicvm, "dev")
    assert cleanup.dev_instances() == []
    ids = minicvm_account.call("cvm", "RunInstances", ImageId="img-eb30mz89", Placement={"Zone": "ap-guangzhou-3"},
                               TagSpecification=[{"ResourceType": "instance",
                                                  "Tags": [{"Key": "env", "Value": "dev"}]}])["InstanceIdSet"]
    minicvm_account.wait_for(ids, "RUNNING")
    assert [i.InstanceId for i in cleanup.dev_instances()] == ids
