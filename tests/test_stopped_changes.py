"""What Tencent lets change only while an instance is shut down: type (CPU/MEM), disk
size, password, keys. Refused while RUNNING (unless ForceStop), applied while STOPPED, visible to the
guest after its next boot."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.client import Api


def stopped(api: Api, count: int = 1, **params) -> list[str]:
    ids = api.run(count, **params)
    api.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
    api.wait_state(ids, "STOPPED")
    return ids


def boot_and_read(api: Api, instance_id: str) -> dict:
    api.cvm("StartInstances", InstanceIds=[instance_id])
    inst = api.wait_state([instance_id], "RUNNING")[instance_id]
    return httpx.get(f"http://{inst['GuestAddress']}/").json()


def test_change_type_refused_while_running_applied_while_stopped(api: Api) -> None:
    running = api.run(1)
    err = api.error("cvm", "ResetInstancesType", InstanceIds=running, InstanceType="S5.LARGE8")
    assert err.code == "UnsupportedOperation.InstanceStateRunning" and "ForceStop" in err.message
    assert api.instance(running[0])["InstanceType"] == "S5.MEDIUM4"
    ids = stopped(api)
    api.cvm("ResetInstancesType", InstanceIds=ids, InstanceType="S5.LARGE8")
    inst = api.wait_operation(ids[0])
    assert (inst["InstanceType"], inst["CPU"], inst["Memory"], inst["InstanceState"]) == ("S5.LARGE8", 4, 8, "STOPPED")
    assert inst["LatestOperation"] == "ResetInstancesType" and inst["LatestOperationState"] == "SUCCESS"
    seen = boot_and_read(api, ids[0])
    assert (seen["CPU"], seen["MemoryGiB"]) == (4, 8)


def test_change_type_with_force_stop_comes_back_running(api: Api) -> None:
    ids = api.run(1)
    api.cvm("ResetInstancesType", InstanceIds=ids, InstanceType="S5.2XLARGE16", ForceStop=True)
    assert api.instance(ids[0])["InstanceState"] == "STOPPING"
    inst = api.wait_state(ids, "RUNNING")[ids[0]]
    assert (inst["CPU"], inst["Memory"], inst["LatestOperationState"]) == (8, 16, "SUCCESS")
    assert httpx.get(f"http://{inst['GuestAddress']}/").json()["CPU"] == 8


@pytest.mark.parametrize(("params", "code"), [
    ({"InstanceType": "S5.MEDIUM4"}, "InvalidParameterValue"),
    ({"InstanceType": "S5.NOPE"}, "InvalidParameterValue.InstanceTypeNotFound"),
])
def test_change_type_bad_input(api: Api, params: dict, code: str) -> None:
    ids = stopped(api)
    assert api.error("cvm", "ResetInstancesType", InstanceIds=ids, **params).code == code
    assert api.error("cvm", "ResetInstancesType", InstanceIds=ids + ["ins-aaaaaaaa"],
                     InstanceType="S5.LARGE8").code == "InvalidParameterValue.LimitExceeded"


def test_local_system_disk_cannot_change_type(api: Api) -> None:
    ids = stopped(api, SystemDisk={"DiskType": "LOCAL_BASIC", "DiskSize": 50})
    assert api.error("cvm", "ResetInstancesType", InstanceIds=ids,
                     InstanceType="S5.LARGE8").code == "UnsupportedOperation.SystemDiskType"


def test_grow_disks_only_while_stopped(api: Api) -> None:
    running = api.run(1, DataDisks=[{"DiskType": "CLOUD_PREMIUM", "DiskSize": 50}])
    data_id = api.instance(running[0])["DataDisks"][0]["DiskId"]
    err = api.error("cvm", "ResizeInstanceDisks", InstanceId=running[0], DataDisks=[{"DiskId": data_id, "DiskSize": 100}])
    assert err.code == "UnsupportedOperation.InstanceStateRunning"
    api.cvm("StopInstances", InstanceIds=running, StopType="HARD")
    api.wait_state(running, "STOPPED")
    assert api.error("cvm", "ResizeInstanceDisks", InstanceId=running[0],
                     DataDisks=[{"DiskId": data_id, "DiskSize": 40}]).code == "InvalidParameterValue"
    assert api.error("cvm", "ResizeInstanceDisks", InstanceId=running[0]).code == "MissingParameter.AtLeastOne"
    api.cvm("ResizeInstanceDisks", InstanceId=running[0], DataDisks=[{"DiskId": data_id, "DiskSize": 100}])
    api.wait_operation(running[0])
    api.cvm("ResizeInstanceDisks", InstanceId=running[0], SystemDisk={"DiskSize": 80})
    inst = api.wait_operation(running[0])
    assert inst["DataDisks"][0]["DiskSize"] == 100 and inst["SystemDisk"]["DiskSize"] == 80
    seen = {d["DiskId"]: d["SizeGiB"] for d in boot_and_read(api, running[0])["Disks"]}
    assert seen[data_id] == 100 and seen[inst["SystemDisk"]["DiskId"]] == 80


def test_grow_online_keeps_running(api: Api) -> None:
    ids = api.run(1)
    api.cvm("ResizeInstanceDisks", InstanceId=ids[0], SystemDisk={"DiskSize": 60}, ResizeOnline=True)
    inst = api.wait_operation(ids[0])
    assert inst["InstanceState"] == "RUNNING" and inst["SystemDisk"]["DiskSize"] == 60


def test_reset_password_rules_and_effect(api: Api) -> None:
    running = api.run(1)
    assert api.error("cvm", "ResetInstancesPassword", InstanceIds=running,
                     Password="Passw0rd!x").code == "UnsupportedOperation.InstanceStateRunning"
    ids = stopped(api)
    for bad in ("short1!", "/Leading1x", "alllowercase", "NoDigitsHere"):
        assert api.error("cvm", "ResetInstancesPassword", InstanceIds=ids,
                         Password=bad).code == "InvalidParameterValue.InvalidPassword"
    before = boot_and_read(api, ids[0])["PasswordChangedAt"]
    api.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
    api.wait_state(ids, "STOPPED")
    api.cvm("ResetInstancesPassword", InstanceIds=ids, Password="Passw0rd!x", UserName="admin")
    api.wait_operation(ids[0])
    seen = boot_and_read(api, ids[0])
    assert seen["PasswordChangedAt"] and seen["PasswordChangedAt"] != before and seen["LoginUser"] == "admin"


def test_reset_password_with_force_stop(api: Api) -> None:
    ids = api.run(1)
    api.cvm("ResetInstancesPassword", InstanceIds=ids, Password="Passw0rd!x", ForceStop=True)
    inst = api.wait_state(ids, "RUNNING")[ids[0]]
    assert inst["LatestOperation"] == "ResetInstancesPassword" and inst["LatestOperationState"] == "SUCCESS"
    assert httpx.get(f"http://{inst['GuestAddress']}/").json()["PasswordChangedAt"]


def test_key_pairs_bind_and_unbind(api: Api) -> None:
    created = api.cvm("CreateKeyPair", KeyName="lead_key", ProjectId=0)["KeyPair"]
    assert created["PrivateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert created["PublicKey"].startswith("ssh-rsa ")
    other = api.cvm("CreateKeyPair", KeyName="other_key", ProjectId=0)["KeyPair"]["KeyId"]
    listed = api.cvm("DescribeKeyPairs", KeyIds=[created["KeyId"]])["KeyPairSet"][0]
    assert listed["PrivateKey"] is None and listed["KeyName"] == "lead_key"
    running = api.run(1)
    assert api.error("cvm", "AssociateInstancesKeyPairs", InstanceIds=running,
                     KeyIds=[created["KeyId"]]).code == "UnsupportedOperation.InstanceStateRunning"
    ids = stopped(api)
    api.cvm("AssociateInstancesKeyPairs", InstanceIds=ids, KeyIds=[created["KeyId"], other])
    inst = api.wait_operation(ids[0])
    assert sorted(inst["LoginSettings"]["KeyIds"]) == sorted([created["KeyId"], other])
    seen = boot_and_read(api, ids[0])
    assert len(seen["KeyFingerprints"]) == 2
    assert api.cvm("DescribeKeyPairs", KeyIds=[other])["KeyPairSet"][0]["AssociatedInstanceIds"] == ids
    assert api.error("cvm", "DeleteKeyPairs", KeyIds=[other]).code == "InvalidParameterValue.KeyPairNotSupported"
    # With ForceStop a running instance is stopped, changed, and started again (documented).
    api.cvm("DisassociateInstancesKeyPairs", InstanceIds=ids, KeyIds=[other], ForceStop=True)
    inst = api.wait_state(ids, "RUNNING")[ids[0]]
    assert inst["LoginSettings"]["KeyIds"] == [created["KeyId"]]
    assert len(httpx.get(f"http://{inst['GuestAddress']}/").json()["KeyFingerprints"]) == 1
    api.cvm("DeleteKeyPairs", KeyIds=[other])


def test_key_pair_rules(api: Api) -> None:
    assert api.error("cvm", "CreateKeyPair", KeyName="", ProjectId=0).code == "InvalidKeyPairNameEmpty"
    assert api.error("cvm", "CreateKeyPair", KeyName="k" * 26, ProjectId=0).code == "InvalidKeyPairNameTooLong"
    assert api.error("cvm", "CreateKeyPair", KeyName="bad-name", ProjectId=0).code == \
        "InvalidKeyPairNameIncludeIllegalChar"
    api.cvm("CreateKeyPair", KeyName="dupe", ProjectId=0)
    assert api.error("cvm", "CreateKeyPair", KeyName="dupe", ProjectId=0).code == "InvalidKeyPairName.Duplicate"
    assert api.error("cvm", "ImportKeyPair", KeyName="imp", ProjectId=0,
                     PublicKey="ssh-rsa not-a-key").code == "InvalidPublicKey.Malformed"
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    imported = api.cvm("ImportKeyPair", KeyName="imp2", ProjectId=0, PublicKey=public + " me@host")
    assert imported["KeyId"].startswith("skey-")
    assert api.error("cvm", "ImportKeyPair", KeyName="imp3", ProjectId=0,
                     PublicKey=public).code == "InvalidPublicKey.Duplicate"
    assert api.error("cvm", "AssociateInstancesKeyPairs", InstanceIds=["ins-aaaaaaaa"],
                     KeyIds=["skey-zzzzzzzz"]).code == "InvalidKeyPairId.NotFound"


def test_modify_attributes(api: Api) -> None:
    ids = api.run(1)
    api.cvm("ModifyInstancesAttribute", InstanceIds=ids, InstanceName="renamed")
    inst = api.instance(ids[0])
    assert inst["InstanceName"] == "renamed" and inst["LatestOperation"] == "ModifyInstancesAttribute.InstanceName"
    assert api.error("cvm", "ModifyInstancesAttribute", InstanceIds=ids, InstanceName="x" * 61).code == \
        "InvalidInstanceName.TooLong"
    assert api.error("cvm", "ModifyInstancesAttribute", InstanceIds=ids).code == "MissingParameter"
    assert api.error("cvm", "ModifyInstancesAttribute", InstanceIds=ids, InstanceName="a",
                     DisableApiTermination=True).code == "InvalidParameterCombination"
    boot = httpx.get(f"http://{inst['GuestAddress']}/").json()["BootId"]
    api.cvm("ModifyInstancesAttribute", InstanceIds=ids, HostName="web-01")
    inst = api.wait_state(ids, "RUNNING")[ids[0]]
    seen = httpx.get(f"http://{inst['GuestAddress']}/").json()
    assert inst["HostName"] == "web-01" and seen["HostName"] == "web-01" and seen["BootId"] != boot
