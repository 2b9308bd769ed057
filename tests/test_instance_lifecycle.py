"""Instance life through the API: boot, stop (SOFT / HARD / SOFT_FIRST), start, reboot, terminate,
with the states, operation records and refusal codes Tencent documents."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY

IGNORE_ACPI = base64.b64encode(b"#cloud-config\nminicvm_ignore_power_button: true\n").decode()


def guest(api: Api, instance_id: str) -> str:
    return "http://" + api.instance(instance_id)["GuestAddress"]


def test_run_describe_and_fields(api: Api) -> None:
    ids = api.run(2, InstanceName="web-{R:7,F:2}", InternetAccessible={"InternetMaxBandwidthOut": 5},
                  DataDisks=[{"DiskType": "CLOUD_SSD", "DiskSize": 20}],
                  TagSpecification=[{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "core"}]}])
    found = api.instances(ids)
    names = sorted(i["InstanceName"] for i in found.values())
    assert names == ["web-07", "web-08"]
    inst = found[ids[0]]
    assert inst["InstanceState"] == "RUNNING"
    assert inst["LatestOperation"] == "RunInstances" and inst["LatestOperationState"] == "SUCCESS"
    assert inst["CPU"] == 2 and inst["Memory"] == 4 and inst["InstanceType"] == "S5.MEDIUM4"
    assert inst["PrivateIpAddresses"][0].startswith("10.")
    assert inst["PublicIpAddresses"][0].split(".")[0] in ("203", "198", "192")
    assert inst["StopChargingMode"] == "NOT_APPLICABLE"
    assert inst["SystemDisk"]["DiskSize"] == 50 and inst["DataDisks"][0]["DiskSize"] == 20
    assert inst["Tags"] == [{"Key": "team", "Value": "core"}]
    assert inst["GuestAddress"].startswith("127.")
    by_tag = api.cvm("DescribeInstances", Filters=[{"Name": "tag:team", "Values": ["core"]},
                                                   {"Name": "instance-id", "Values": ids}])
    assert by_tag["TotalCount"] == 2
    status = api.cvm("DescribeInstancesStatus", InstanceIds=ids)
    assert {s["InstanceState"] for s in status["InstanceStatusSet"]} == {"RUNNING"}
    # Unknown but well-formed ids are simply absent.
    assert api.cvm("DescribeInstances", InstanceIds=["ins-zzzzzzzz"])["TotalCount"] == 0


def test_pending_then_running_and_guest_answers(api: Api) -> None:
    ids = api.run(1, wait=False)
    assert api.instance(ids[0])["InstanceState"] == "PENDING"
    api.wait_state(ids, "RUNNING")
    info = httpx.get(guest(api, ids[0]) + "/").json()
    assert info["InstanceId"] == ids[0] and info["CPU"] == 2 and info["MemoryGiB"] == 4
    assert httpx.get(guest(api, ids[0]) + "/healthz").status_code == 200


def test_stop_is_observed_and_start_brings_it_back(api: Api) -> None:
    ids = api.run(1)
    api.cvm("StopInstances", InstanceIds=ids)
    inst = api.instance(ids[0])
    assert inst["InstanceState"] == "STOPPING" and inst["LatestOperation"] == "StopInstances"
    assert inst["LatestOperationState"] == "OPERATING"
    stopped = api.wait_state(ids, "STOPPED")[ids[0]]
    assert stopped["LatestOperationState"] == "SUCCESS" and stopped["StopChargingMode"] == "KEEP_CHARGING"
    with pytest.raises(httpx.ConnectError):
        httpx.get(guest(api, ids[0]) + "/healthz", timeout=2)
    request_id = api.cvm("StartInstances", InstanceIds=ids)["RequestId"]
    starting = api.instance(ids[0])
    assert starting["InstanceState"] == "STARTING" and starting["LatestOperationRequestId"] == request_id
    assert api.wait_state(ids, "RUNNING")[ids[0]]["LatestOperationState"] == "SUCCESS"


def test_disk_data_survive_a_stop_memory_does_not(api: Api) -> None:
    ids = api.run(1)
    url = guest(api, ids[0])
    before = httpx.get(url + "/").json()
    assert httpx.put(url + "/disk/greeting", content=b"hello disk").status_code == 204
    assert httpx.put(url + "/mem/greeting", content=b"hello memory").status_code == 204
    api.cvm("StopInstances", InstanceIds=ids, StopType="SOFT")
    api.wait_state(ids, "STOPPED")
    api.cvm("StartInstances", InstanceIds=ids)
    api.wait_state(ids, "RUNNING")
    after = httpx.get(url + "/").json()
    assert after["BootId"] != before["BootId"] and after["BootCount"] == before["BootCount"] + 1
    assert httpx.get(url + "/disk/greeting").content == b"hello disk"
    assert httpx.get(url + "/mem/greeting").status_code == 404


@pytest.mark.parametrize(("stop_type", "final", "op_state"),
                         [("SOFT", "RUNNING", "FAILED"), ("SOFT_FIRST", "STOPPED", "SUCCESS"),
                          ("HARD", "STOPPED", "SUCCESS")])
def test_stop_types_on_a_guest_that_ignores_the_power_button(api: Api, stop_type: str, final: str,
                                                             op_state: str) -> None:
    ids = api.run(1, UserData=IGNORE_ACPI)
    assert httpx.get(guest(api, ids[0]) + "/").json()["IgnorePowerButton"] is True
    api.cvm("StopInstances", InstanceIds=ids, StopType=stop_type)
    inst = api.wait_operation(ids[0])
    assert inst["InstanceState"] == final and inst["LatestOperationState"] == op_state
    if stop_type == "SOFT":
        assert "power button" in inst["LatestOperationErrorMsg"]
        assert httpx.get(guest(api, ids[0]) + "/healthz").status_code == 200


def test_a_shutdown_that_outlives_the_soft_timeout_is_reported(make_server) -> None:
    srv = make_server(shutdown_seconds=2, soft_stop_timeout=0.5)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    ids = api.run(1)
    api.cvm("StopInstances", InstanceIds=ids, StopType="SOFT")
    failed = api.wait_operation(ids[0])
    assert failed["LatestOperationState"] == "FAILED" and failed["InstanceState"] == "RUNNING"
    # The OS had accepted the power button and finishes shutting down after the API gave up.
    assert api.wait_state(ids, "STOPPED")


def test_deprecated_force_stop_means_soft_then_hard(api: Api) -> None:
    ids = api.run(1, UserData=IGNORE_ACPI)
    api.cvm("StopInstances", InstanceIds=ids, ForceStop=True)
    assert api.wait_operation(ids[0])["InstanceState"] == "STOPPED"


def test_reboot_gives_a_new_boot_and_keeps_disk(api: Api) -> None:
    ids = api.run(1)
    url = guest(api, ids[0])
    boot = httpx.get(url + "/").json()["BootId"]
    httpx.put(url + "/disk/k", content=b"v")
    api.cvm("RebootInstances", InstanceIds=ids)
    assert api.instance(ids[0])["InstanceState"] == "REBOOTING"
    api.wait_state(ids, "RUNNING")
    assert httpx.get(url + "/").json()["BootId"] != boot
    assert httpx.get(url + "/disk/k").content == b"v"
    assert api.error("cvm", "RebootInstances", InstanceIds=ids, ForceReboot=True,
                     StopType="HARD").code == "InvalidParameterCombination"


def test_terminate_removes_instance_and_refuses_protected(api: Api) -> None:
    ids = api.run(2)
    api.cvm("ModifyInstancesAttribute", InstanceIds=[ids[1]], DisableApiTermination=True)
    err = api.error("cvm", "TerminateInstances", InstanceIds=ids)
    assert err.code == "UnsupportedOperation.InstancesProtected" and ids[1] in err.message
    assert len(api.instances(ids)) == 2  # nothing happened to the other one
    api.cvm("TerminateInstances", InstanceIds=[ids[0]])
    assert api.instance(ids[0])["InstanceState"] == "TERMINATING"
    api.wait_gone([ids[0]])
    assert api.error("cvm", "StartInstances", InstanceIds=[ids[0]]).code == "InvalidInstanceId.NotFound"


def test_prepaid_terminate_goes_to_recycle_bin_first(api: Api) -> None:
    ids = api.run(1, InstanceChargeType="PREPAID", InstanceChargePrepaid={"Period": 1})
    api.cvm("TerminateInstances", InstanceIds=ids)
    inst = api.wait_state(ids, "SHUTDOWN")[ids[0]]
    assert inst["IsolatedSource"] == "MANMADE"
    assert api.error("cvm", "StartInstances", InstanceIds=ids).code == "UnsupportedOperation.InstanceStateShutdown"
    api.cvm("TerminateInstances", InstanceIds=ids)
    api.wait_gone(ids)


def test_batch_is_all_or_nothing_with_a_reason_per_instance(api: Api) -> None:
    running, stopped, starting = api.run(3)
    api.cvm("StopInstances", InstanceIds=[stopped, starting], StopType="HARD")
    api.wait_state([stopped, starting], "STOPPED")
    api.cvm("StartInstances", InstanceIds=[starting])
    err = api.error("cvm", "StopInstances", InstanceIds=[running, stopped, starting])
    assert err.code in ("UnsupportedOperation.InstanceStateStopped", "UnsupportedOperation.InstanceStateStarting")
    assert stopped in err.message and starting in err.message and running not in err.message
    assert "STOPPED" in err.message
    assert api.instance(running)["InstanceState"] == "RUNNING"
    assert api.instance(running)["LatestOperation"] == "RunInstances"


def test_refused_state_codes(make_server) -> None:
    # Long transitions so that each transitional state can be hit on purpose.
    srv = make_server(boot_seconds=2.5, shutdown_seconds=2.5, soft_stop_timeout=10)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    pending = api.run(1, wait=False)
    assert api.error("cvm", "StopInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStatePending"
    api.wait_state(pending, "RUNNING")
    assert api.error("cvm", "StartInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStateRunning"
    api.cvm("StopInstances", InstanceIds=pending)
    assert api.error("cvm", "StartInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStateStopping"
    assert api.error("cvm", "StopInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStateStopping"
    api.wait_state(pending, "STOPPED")
    assert api.error("cvm", "StopInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStateStopped"
    assert api.error("cvm", "RebootInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStateStopped"
    api.cvm("StartInstances", InstanceIds=pending)
    assert api.error("cvm", "StopInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStateStarting"
    api.wait_state(pending, "RUNNING")
    api.cvm("RebootInstances", InstanceIds=pending, StopType="HARD")
    assert api.error("cvm", "StopInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStateRebooting"
    api.wait_state(pending, "RUNNING")
    api.cvm("TerminateInstances", InstanceIds=pending)
    assert api.error("cvm", "StopInstances", InstanceIds=pending).code == "UnsupportedOperation.InstanceStateTerminating"


def test_dry_run_and_client_token(api: Api) -> None:
    before = api.cvm("DescribeInstances", Limit=1)["TotalCount"]
    dry = api.cvm("RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-eb30mz89", DryRun=True)
    assert dry["InstanceIdSet"] == []
    assert api.cvm("DescribeInstances", Limit=1)["TotalCount"] == before
    bad = api.error("cvm", "RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-00000000", DryRun=True)
    assert bad.code == "InvalidImageId.NotFound"
    first = api.cvm("RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-eb30mz89",
                    ClientToken="token-abc", InstanceCount=2)["InstanceIdSet"]
    second = api.cvm("RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-eb30mz89",
                     ClientToken="token-abc", InstanceCount=2)["InstanceIdSet"]
    assert first == second
    assert api.cvm("DescribeInstances", Limit=1)["TotalCount"] == before + 2
    assert api.error("cvm", "RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-eb30mz89",
                     ClientToken="x" * 65).code == "InvalidClientToken.TooLong"


@pytest.mark.parametrize(("params", "code"), [
    ({"Placement": {"Zone": "ap-shanghai-2"}}, "InvalidZone.MismatchRegion"),
    ({"ImageId": "img-bad"}, "InvalidImageId.Malformed"),
    ({"InstanceType": "S5.HUGE999"}, "InvalidParameterValue.InstanceTypeNotFound"),
    ({"InstanceType": "nonsense"}, "InvalidInstanceType.Malformed"),
    ({"InstanceCount": 0}, "InvalidParameterValue.Range"),
    ({"InstanceCount": 501}, "InvalidParameterValue.Range"),
    ({"InstanceName": "n" * 129}, "InvalidInstanceName.TooLong"),
    ({"SystemDisk": {"DiskSize": 5}}, "InvalidParameterValue.Range"),
    ({"DataDisks": [{"DiskSize": 15, "DiskType": "CLOUD_SSD"}]}, "InvalidParameterValue.Range"),
    ({"LoginSettings": {"Password": "short"}}, "InvalidParameterValue.InvalidPassword"),
    ({"LoginSettings": {"Password": "GoodPass123", "KeyIds": ["skey-aaaaaaaa"]}}, "InvalidParameterCombination"),
    ({"LoginSettings": {"KeyIds": ["skey-zzzzzzzz"]}}, "InvalidParameterValue.KeyPairNotFound"),
    ({"UserData": "not base64!"}, "InvalidParameterValue.InvalidUserDataFormat"),
    ({"HostName": "-bad-"}, "InvalidParameterValue.IllegalHostName"),
    ({"InternetAccessible": {"PublicIpAssigned": True}}, "InvalidParameterValue"),
    ({"VirtualPrivateCloud": {"VpcId": "vpc-zzzzzzzz", "SubnetId": "subnet-zzzzzzzz"}},
     "InvalidParameterValue.VpcIdNotExist"),
    ({"InstanceChargeType": "PREPAID"}, "MissingParameter"),
    ({"LaunchTemplate": {"LaunchTemplateId": "lt-12345678"}}, "UnsupportedOperation"),
])
def test_run_instances_rejects_bad_parameters(api: Api, params: dict, code: str) -> None:
    before = api.cvm("DescribeInstances", Limit=1)["TotalCount"]
    base = {"Placement": {"Zone": "ap-guangzhou-3"}, "ImageId": "img-eb30mz89"}
    assert api.error("cvm", "RunInstances", **{**base, **params}).code == code
    assert api.cvm("DescribeInstances", Limit=1)["TotalCount"] == before


def test_describe_paging_and_filters(api: Api) -> None:
    ids = api.run(5, InstanceName="pager")
    page1 = api.cvm("DescribeInstances", Filters=[{"Name": "instance-id", "Values": ids}], Limit=2)
    page3 = api.cvm("DescribeInstances", Filters=[{"Name": "instance-id", "Values": ids}], Limit=2, Offset=4)
    assert page1["TotalCount"] == 5 and len(page1["InstanceSet"]) == 2 and len(page3["InstanceSet"]) == 1
    assert api.error("cvm", "DescribeInstances", Limit=101).code == "InvalidParameterValue.LimitExceeded"
    assert api.error("cvm", "DescribeInstances", Filters=[{"Name": "colour", "Values": ["red"]}]).code == "InvalidFilter"
    assert api.error("cvm", "DescribeInstances", InstanceIds=ids[:1],
                     Filters=[{"Name": "zone", "Values": ["ap-guangzhou-3"]}]).code == "InvalidParameter"
    private_ip = api.instance(ids[0])["PrivateIpAddresses"][0]
    by_ip = api.cvm("DescribeInstances", Filters=[{"Name": "private-ip-address", "Values": [private_ip]}])
    assert [i["InstanceId"] for i in by_ip["InstanceSet"]] == [ids[0]]
    api.cvm("StopInstances", InstanceIds=ids[:2], StopType="HARD")
    api.wait_state(ids[:2], "STOPPED")
    stopped = api.cvm("DescribeInstances", Filters=[{"Name": "instance-state", "Values": ["STOPPED"]},
                                                    {"Name": "instance-id", "Values": ids}])
    assert {i["InstanceId"] for i in stopped["InstanceSet"]} == set(ids[:2])


def test_catalogue(api: Api) -> None:
    types = {c["InstanceType"]: c for c in api.cvm("DescribeInstanceTypeConfigs")["InstanceTypeConfigSet"]}
    assert (types["S5.SMALL1"]["CPU"], types["S5.SMALL1"]["Memory"]) == (1, 1)
    assert (types["S5.2XLARGE16"]["CPU"], types["S5.2XLARGE16"]["Memory"]) == (8, 16)
    per_zone = api.cvm("DescribeInstanceTypeConfigs", Filters=[{"Name": "zone", "Values": ["ap-guangzhou-4"]}])
    assert {c["Zone"] for c in per_zone["InstanceTypeConfigSet"]} == {"ap-guangzhou-4"}
    assert api.cvm("DescribeImages")["TotalCount"] >= 1
    assert api.error("cvm", "DescribeImages", ImageIds=["img-eb30mz89"],
                     Filters=[{"Name": "platform", "Values": ["Debian"]}]).code == \
        "InvalidParameter.InvalidParameterCoexistImageIdsFilters"
    assert any(r["Region"] == "ap-guangzhou" for r in api.cvm("DescribeRegions")["RegionSet"])
