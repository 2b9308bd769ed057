"""Public IPs and EIPs across shutdowns: a stopped instance keeps its public IP, private IP and EIP;
STOP_CHARGING releases the plain public IP. DescribeInstances and DescribeAddresses must agree at every
moment."""

from __future__ import annotations

import pytest

from tests.support.client import Api, other_account

PUBLIC = {"InternetMaxBandwidthOut": 10}


def vpc(api: Api, action: str, **params) -> dict:
    return api.call("vpc", action, **params)


def addresses_of(api: Api, instance_id: str) -> list[dict]:
    found = vpc(api, "DescribeAddresses", Filters=[{"Name": "instance-id", "Values": [instance_id]},
                                                  {"Name": "address-type", "Values": ["WanIP", "EIP"]}])
    return found["AddressSet"]


def public_view(api: Api, instance_id: str) -> tuple[list[str], list[str]]:
    """(what DescribeInstances says, what DescribeAddresses says) — they must be equal."""
    inst = api.instance(instance_id)
    return sorted(inst["PublicIpAddresses"] or []), sorted(a["AddressIp"] for a in addresses_of(api, instance_id))


def agree(api: Api, instance_id: str) -> list[str]:
    from_instances, from_addresses = public_view(api, instance_id)
    assert from_instances == from_addresses
    return from_instances


def new_eip(api: Api) -> str:
    address_id = vpc(api, "AllocateAddresses")["AddressSet"][0]
    api.wait(lambda: address(api, address_id)["AddressStatus"] == "UNBIND")
    return address_id


def address(api: Api, address_id: str) -> dict:
    return vpc(api, "DescribeAddresses", AddressIds=[address_id])["AddressSet"][0]


def bind(api: Api, address_id: str, instance_id: str) -> None:
    vpc(api, "AssociateAddress", AddressId=address_id, InstanceId=instance_id)
    api.wait(lambda: address(api, address_id)["AddressStatus"] == "BIND")


@pytest.mark.parametrize("mode", ["KEEP_CHARGING", "STOP_CHARGING"])
@pytest.mark.parametrize("public", ["wan", "eip", "none"])
def test_addresses_across_stop_and_start(api: Api, mode: str, public: str) -> None:
    ids = api.run(1, InternetAccessible=PUBLIC if public == "wan" else {})
    instance_id = ids[0]
    eip = None
    if public == "eip":
        eip = new_eip(api)
        bind(api, eip, instance_id)
    private_before = api.instance(instance_id)["PrivateIpAddresses"]
    before = agree(api, instance_id)
    assert len(before) == (0 if public == "none" else 1)
    api.cvm("StopInstances", InstanceIds=ids, StoppedMode=mode)
    during = agree(api, instance_id)
    assert during == before  # while STOPPING nothing is released yet
    stopped = api.wait_state(ids, "STOPPED")[instance_id]
    assert stopped["StopChargingMode"] == mode
    assert stopped["PrivateIpAddresses"] == private_before
    after_stop = agree(api, instance_id)
    if public == "wan" and mode == "STOP_CHARGING":
        assert after_stop == []
    else:
        assert after_stop == before
    if eip:
        assert address(api, eip)["AddressStatus"] == "BIND" and address(api, eip)["InstanceId"] == instance_id
    api.cvm("StartInstances", InstanceIds=ids)
    running = api.wait_state(ids, "RUNNING")[instance_id]
    assert running["PrivateIpAddresses"] == private_before
    after_start = agree(api, instance_id)
    if public == "wan" and mode == "STOP_CHARGING":
        assert len(after_start) == 1 and after_start != before
    else:
        assert after_start == before


def test_no_new_eip_while_stopped_without_charging(api: Api) -> None:
    ids = api.run(1)
    api.cvm("StopInstances", InstanceIds=ids, StoppedMode="STOP_CHARGING")
    api.wait_state(ids, "STOPPED")
    eip = new_eip(api)
    err = api.error("vpc", "AssociateAddress", AddressId=eip, InstanceId=ids[0])
    assert err.code == "UnsupportedOperation.InstanceStatusNotPermit"
    assert address(api, eip)["AddressStatus"] == "UNBIND"
    api.cvm("StartInstances", InstanceIds=ids)
    api.wait_state(ids, "RUNNING")
    bind(api, eip, ids[0])


def test_stop_charging_needs_cloud_disks_and_postpaid(api: Api) -> None:
    local = api.run(1, SystemDisk={"DiskType": "LOCAL_BASIC", "DiskSize": 50})
    err = api.error("cvm", "StopInstances", InstanceIds=local, StoppedMode="STOP_CHARGING")
    assert err.code == "UnsupportedOperation.StoppedModeStopCharging"
    assert api.instance(local[0])["InstanceState"] == "RUNNING"


def test_eip_replaces_the_plain_public_ip_and_back(api: Api) -> None:
    ids = api.run(1, InternetAccessible=PUBLIC)
    wan = agree(api, ids[0])
    eip = new_eip(api)
    eip_ip = address(api, eip)["AddressIp"]
    vpc(api, "AssociateAddress", AddressId=eip, InstanceId=ids[0])
    assert address(api, eip)["AddressStatus"] == "BINDING"
    assert agree(api, ids[0]) == [eip_ip]  # the WanIP is gone the moment the EIP takes its place
    api.wait(lambda: address(api, eip)["AddressStatus"] == "BIND")
    assert agree(api, ids[0]) == [eip_ip] and wan != [eip_ip]
    other = new_eip(api)
    assert api.error("vpc", "AssociateAddress", AddressId=other,
                     InstanceId=ids[0]).code == "InvalidInstanceId.AlreadyBindEip"
    vpc(api, "DisassociateAddress", AddressId=eip, ReallocateNormalPublicIp=True)
    assert address(api, eip)["AddressStatus"] == "UNBINDING"
    api.wait(lambda: address(api, eip)["AddressStatus"] == "UNBIND")
    fresh = agree(api, ids[0])
    assert len(fresh) == 1 and fresh != [eip_ip]
    bind(api, eip, ids[0])
    vpc(api, "DisassociateAddress", AddressId=eip)
    api.wait(lambda: address(api, eip)["AddressStatus"] == "UNBIND")
    assert agree(api, ids[0]) == []
    # Without ReallocateNormalPublicIp the instance stays without a public IP, even across a restart.
    api.cvm("RebootInstances", InstanceIds=ids)
    api.wait_state(ids, "RUNNING")
    assert agree(api, ids[0]) == []


def test_eip_lifecycle_and_release(api: Api) -> None:
    made = vpc(api, "AllocateAddresses", AddressCount=2, AddressName="pair")
    first, second = made["AddressSet"]
    assert address(api, first)["AddressStatus"] == "CREATING"
    api.wait(lambda: vpc(api, "DescribeTaskResult", TaskId=int(made["TaskId"]))["Result"] == "SUCCESS")
    assert address(api, first)["AddressStatus"] == "UNBIND"
    ids = api.run(1)
    bind(api, first, ids[0])
    err = api.error("vpc", "ReleaseAddresses", AddressIds=[first, second])
    assert err.code == "UnsupportedOperation.AddressStatusNotPermit" and first in err.message
    assert address(api, second)["AddressStatus"] == "UNBIND"
    vpc(api, "ReleaseAddresses", AddressIds=[second])
    assert address(api, second)["AddressStatus"] == "OFFLINING"
    api.wait(lambda: vpc(api, "DescribeAddresses", AddressIds=[second])["TotalCount"] == 0)
    assert api.error("vpc", "AssociateAddress", AddressId=second, InstanceId=ids[0]).code == "InvalidAddressId.NotFound"


@pytest.mark.parametrize("release", [True, False])
def test_terminate_and_the_eip(api: Api, release: bool) -> None:
    ids = api.run(1)
    eip = new_eip(api)
    bind(api, eip, ids[0])
    api.cvm("TerminateInstances", InstanceIds=ids, ReleaseAddress=release)
    api.wait_gone(ids)
    remaining = vpc(api, "DescribeAddresses", AddressIds=[eip])["AddressSet"]
    if release:
        assert remaining == []
    else:
        assert remaining[0]["AddressStatus"] == "UNBIND" and remaining[0]["InstanceId"] is None


def test_plain_public_ips_are_hidden_unless_asked(api: Api) -> None:
    ids = api.run(1, InternetAccessible=PUBLIC)
    hidden = vpc(api, "DescribeAddresses", Filters=[{"Name": "instance-id", "Values": ids}])
    assert hidden["TotalCount"] == 0
    shown = vpc(api, "DescribeAddresses", Filters=[{"Name": "instance-id", "Values": ids},
                                                   {"Name": "address-type", "Values": ["WanIP"]}])
    assert shown["TotalCount"] == 1 and shown["AddressSet"][0]["AddressType"] == "WanIP"
    wan_id = shown["AddressSet"][0]["AddressId"]
    assert api.error("vpc", "ReleaseAddresses", AddressIds=[wan_id]).code == "InvalidAddressId.NotFound"
    ip = shown["AddressSet"][0]["AddressIp"]
    assert ip.startswith(("203.0.113.", "198.51.100.", "192.0.2."))
    by_ip = api.cvm("DescribeInstances", Filters=[{"Name": "public-ip-address", "Values": [ip]}])
    assert [i["InstanceId"] for i in by_ip["InstanceSet"]] == ids


@pytest.mark.parametrize(("action", "params", "code"), [
    ("AllocateAddresses", {"AddressCount": 21}, "InvalidParameterValue.Range"),
    ("AllocateAddresses", {"InternetMaxBandwidthOut": 1000}, "InvalidParameterValue.BandwidthOutOfRange"),
    ("AllocateAddresses", {"AddressType": "AnycastEIP"}, "InvalidParameterValue.AddressTypeConflict"),
    ("AssociateAddress", {"AddressId": "eip-bad"}, "InvalidParameterValue.AddressIdMalformed"),
    ("AssociateAddress", {"AddressId": "eip-zzzzzzzz", "InstanceId": "ins-zzzzzzzz"}, "InvalidAddressId.NotFound"),
    ("AssociateAddress", {"AddressId": "eip-zzzzzzzz"}, "InvalidParameterValue.MissingAssociateEntity"),
    ("DescribeAddresses", {"Filters": [{"Name": "colour", "Values": ["x"]}]}, "InvalidParameter.InvalidFilter"),
    ("DisassociateAddress", {"AddressId": "eip-zzzzzzzz"}, "InvalidAddressId.NotFound"),
])
def test_address_errors(api: Api, action: str, params: dict, code: str) -> None:
    assert api.error("vpc", action, **params).code == code


def test_eip_quota(server) -> None:
    fresh = other_account(server)
    vpc(fresh, "AllocateAddresses", AddressCount=20)
    assert fresh.error("vpc", "AllocateAddresses").code == "AddressQuotaLimitExceeded"
