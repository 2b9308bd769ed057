"""CBS disks: the disks an instance is bought with, elastic disks that move between instances, and
data that survive shutdowns."""

from __future__ import annotations

import httpx
import pytest

from tests.support.client import ZONE, Api
from tests.support.server import SECRET_ID, SECRET_KEY


def cbs(api: Api, action: str, **params) -> dict:
    return api.call("cbs", action, **params)


def disks_of(api: Api, instance_id: str) -> dict[str, dict]:
    found = cbs(api, "DescribeDisks", Filters=[{"Name": "instance-id", "Values": [instance_id]}], Limit=100)
    return {d["DiskId"]: d for d in found["DiskSet"]}


def disk(api: Api, disk_id: str) -> dict:
    return cbs(api, "DescribeDisks", DiskIds=[disk_id])["DiskSet"][0]


def wait_disk(api: Api, disk_id: str, state: str) -> dict:
    return api.wait(lambda: (d := disk(api, disk_id))["DiskState"] == state and d)


def new_disk(api: Api, size: int = 20, zone: str = ZONE) -> str:
    return cbs(api, "CreateDisks", Placement={"Zone": zone}, DiskChargeType="POSTPAID_BY_HOUR",
               DiskType="CLOUD_PREMIUM", DiskSize=size, DiskName="data")["DiskIdSet"][0]


def guest_url(api: Api, instance_id: str) -> str:
    return "http://" + api.instance(instance_id)["GuestAddress"]


def test_instance_disks_are_non_portable_cbs_disks(api: Api) -> None:
    ids = api.run(1, DataDisks=[{"DiskType": "CLOUD_SSD", "DiskSize": 30}])
    found = disks_of(api, ids[0])
    usages = sorted(d["DiskUsage"] for d in found.values())
    assert usages == ["DATA_DISK", "SYSTEM_DISK"]
    for d in found.values():
        assert d["Portable"] is False and d["DiskState"] == "ATTACHED" and d["Attached"] is True
        assert d["InstanceId"] == ids[0]
    assert {d["DiskSize"] for d in found.values()} == {50, 30}
    assert api.error("cbs", "DetachDisks", DiskIds=list(found)[:1]).code in ("InvalidDisk.NotPortable",
                                                                         "ResourceUnavailable.TypeError")


def test_portable_disk_moves_between_instances_with_its_data(api: Api) -> None:
    first, second = api.run(2)
    disk_id = new_disk(api)
    assert disk(api, disk_id)["DiskState"] == "UNATTACHED" and disk(api, disk_id)["Portable"] is True
    cbs(api, "AttachDisks", InstanceId=first, DiskIds=[disk_id])
    assert disk(api, disk_id)["DiskState"] == "ATTACHING"
    wait_disk(api, disk_id, "ATTACHED")
    url = guest_url(api, first)
    assert httpx.put(f"{url}/disk/report?disk={disk_id}", content=b"quarterly").status_code == 204
    assert httpx.get(f"{url}/disk/report").status_code == 404  # that key went to the data disk only
    cbs(api, "DetachDisks", DiskIds=[disk_id], InstanceId=first)
    assert disk(api, disk_id)["DiskState"] == "DETACHING"
    detached = wait_disk(api, disk_id, "UNATTACHED")
    assert detached["InstanceId"] == "" and detached["LastAttachInsId"] == first
    assert httpx.get(f"{url}/disk/report?disk={disk_id}").status_code == 404
    api.cvm("StopInstances", InstanceIds=[second], StopType="HARD")
    api.wait_state([second], "STOPPED")
    cbs(api, "AttachDisks", InstanceId=second, DiskIds=[disk_id])
    wait_disk(api, disk_id, "ATTACHED")
    api.cvm("StartInstances", InstanceIds=[second])
    api.wait_state([second], "RUNNING")
    assert httpx.get(f"{guest_url(api, second)}/disk/report?disk={disk_id}").content == b"quarterly"


def test_data_on_every_kind_of_disk_survive_a_stop(api: Api) -> None:
    ids = api.run(1, DataDisks=[{"DiskType": "CLOUD_PREMIUM", "DiskSize": 20}])
    inst = api.instance(ids[0])
    data_id = inst["DataDisks"][0]["DiskId"]
    portable = new_disk(api)
    cbs(api, "AttachDisks", InstanceId=ids[0], DiskIds=[portable])
    wait_disk(api, portable, "ATTACHED")
    url = guest_url(api, ids[0])
    for target in ("", f"?disk={data_id}", f"?disk={portable}"):
        assert httpx.put(f"{url}/disk/k{target}", content=f"v{target}".encode()).status_code == 204
    httpx.put(f"{url}/mem/k", content=b"lost")
    api.cvm("StopInstances", InstanceIds=ids)
    api.wait_state(ids, "STOPPED")
    assert {d["DiskState"] for d in disks_of(api, ids[0]).values()} == {"ATTACHED"}
    api.cvm("StartInstances", InstanceIds=ids)
    api.wait_state(ids, "RUNNING")
    for target in ("", f"?disk={data_id}", f"?disk={portable}"):
        assert httpx.get(f"{url}/disk/k{target}").content == f"v{target}".encode()
    assert httpx.get(f"{url}/mem/k").status_code == 404


def test_attach_is_all_or_nothing_with_clear_reasons(api: Api) -> None:
    ids = api.run(1)
    good = new_disk(api)
    elsewhere = new_disk(api, zone="ap-guangzhou-4")
    system = [d for d, v in disks_of(api, ids[0]).items() if v["DiskUsage"] == "SYSTEM_DISK"][0]
    err = api.error("cbs", "AttachDisks", InstanceId=ids[0], DiskIds=[good, elsewhere])
    assert err.code == "ResourceUnavailable.ZoneNotMatch" and elsewhere in err.message
    assert disk(api, good)["DiskState"] == "UNATTACHED"
    assert api.error("cbs", "AttachDisks", InstanceId=ids[0], DiskIds=[system]).code == "ResourceUnavailable.TypeError"
    assert api.error("cbs", "AttachDisks", InstanceId=ids[0],
                     DiskIds=["disk-zzzzzzzz"]).code == "InvalidDiskId.NotFound"
    assert api.error("cbs", "AttachDisks", InstanceId="ins-zzzzzzzz", DiskIds=[good]).code == "InvalidInstanceId.NotFound"
    assert api.error("cbs", "AttachDisks", InstanceId=ids[0],
                     DiskIds=[f"disk-{i:08d}" for i in range(11)]).code == "InvalidParameterValue.LimitExceeded"
    cbs(api, "AttachDisks", InstanceId=ids[0], DiskIds=[good])
    wait_disk(api, good, "ATTACHED")
    other = api.run(1)
    assert api.error("cbs", "AttachDisks", InstanceId=other[0], DiskIds=[good]).code == "ResourceUnavailable.Attached"
    assert api.error("cbs", "TerminateDisks", DiskIds=[good]).code == "ResourceUnavailable.Attached"


def test_elastic_resize_grows_only_and_shows_after_boot(api: Api) -> None:
    ids = api.run(1)
    disk_id = new_disk(api, 20)
    cbs(api, "AttachDisks", InstanceId=ids[0], DiskIds=[disk_id])
    wait_disk(api, disk_id, "ATTACHED")
    assert api.error("cbs", "ResizeDisk", DiskId=disk_id, DiskSize=10).code == "InvalidParameterValue"
    assert api.error("cbs", "ResizeDisk", DiskId=disk_id, DiskSize=25).code == "InvalidParameterValue"
    cbs(api, "ResizeDisk", DiskId=disk_id, DiskSize=40)
    assert disk(api, disk_id)["DiskState"] == "EXPANDING"
    assert wait_disk(api, disk_id, "ATTACHED")["DiskSize"] == 40
    url = guest_url(api, ids[0])
    sizes = {d["DiskId"]: d["SizeGiB"] for d in httpx.get(url + "/").json()["Disks"]}
    assert sizes[disk_id] == 20  # the running guest keeps the size it booted with
    api.cvm("RebootInstances", InstanceIds=ids)
    api.wait_state(ids, "RUNNING")
    sizes = {d["DiskId"]: d["SizeGiB"] for d in httpx.get(url + "/").json()["Disks"]}
    assert sizes[disk_id] == 40
    system = [d for d, v in disks_of(api, ids[0]).items() if v["DiskUsage"] == "SYSTEM_DISK"][0]
    assert api.error("cbs", "ResizeDisk", DiskId=system, DiskSize=100).code == "ResourceUnavailable.NotPortable"


def test_terminate_deletes_own_disks_and_frees_portable_ones(api: Api) -> None:
    ids = api.run(1, DataDisks=[{"DiskType": "CLOUD_PREMIUM", "DiskSize": 20}])
    own = list(disks_of(api, ids[0]))
    portable = new_disk(api)
    cbs(api, "AttachDisks", InstanceId=ids[0], DiskIds=[portable])
    wait_disk(api, portable, "ATTACHED")
    httpx.put(f"{guest_url(api, ids[0])}/disk/keep?disk={portable}", content=b"still here")
    api.cvm("TerminateInstances", InstanceIds=ids)
    api.wait_gone(ids)
    assert cbs(api, "DescribeDisks", DiskIds=own)["TotalCount"] == 0
    freed = disk(api, portable)
    assert freed["DiskState"] == "UNATTACHED" and freed["InstanceId"] == ""
    other = api.run(1)
    cbs(api, "AttachDisks", InstanceId=other[0], DiskIds=[portable])
    wait_disk(api, portable, "ATTACHED")
    assert httpx.get(f"{guest_url(api, other[0])}/disk/keep?disk={portable}").content == b"still here"
    cbs(api, "DetachDisks", DiskIds=[portable])
    wait_disk(api, portable, "UNATTACHED")
    cbs(api, "TerminateDisks", DiskIds=[portable])
    assert cbs(api, "DescribeDisks", DiskIds=[portable])["TotalCount"] == 0


def test_delete_with_instance_on_attach(api: Api) -> None:
    ids = api.run(1)
    disk_id = new_disk(api)
    cbs(api, "AttachDisks", InstanceId=ids[0], DiskIds=[disk_id], DeleteWithInstance=True)
    wait_disk(api, disk_id, "ATTACHED")
    api.cvm("TerminateInstances", InstanceIds=ids)
    api.wait_gone(ids)
    assert cbs(api, "DescribeDisks", DiskIds=[disk_id])["TotalCount"] == 0


@pytest.mark.parametrize(("params", "code"), [
    ({"DiskType": "CLOUD_TSSD"}, "InvalidParameter.DiskConfigNotSupported"),
    ({"DiskSize": 5}, "InvalidParameterValue"),
    ({"DiskSize": 33}, "InvalidParameterValue"),
    ({"DiskChargeType": "FREE"}, "InvalidParameterValue"),
    ({"DiskChargeType": "PREPAID"}, "MissingParameter"),
    ({"Placement": {"Zone": "ap-shanghai-2"}}, "InvalidParameterValue"),
    ({"DiskCount": 0}, "InvalidParameterValue.LimitExceeded"),
    ({"Bogus": 1}, "UnknownParameter"),
])
def test_create_disks_rejects_bad_input(api: Api, params: dict, code: str) -> None:
    before = cbs(api, "DescribeDisks", Limit=1)["TotalCount"]
    base = {"Placement": {"Zone": ZONE}, "DiskChargeType": "POSTPAID_BY_HOUR", "DiskType": "CLOUD_PREMIUM",
            "DiskSize": 20}
    assert api.error("cbs", "CreateDisks", **{**base, **params}).code == code
    assert cbs(api, "DescribeDisks", Limit=1)["TotalCount"] == before


def test_describe_disks_filters_and_paging(api: Api) -> None:
    made = cbs(api, "CreateDisks", Placement={"Zone": ZONE}, DiskChargeType="POSTPAID_BY_HOUR",
               DiskType="CLOUD_SSD", DiskSize=20, DiskCount=3, DiskName="batch")["DiskIdSet"]
    page = cbs(api, "DescribeDisks", Filters=[{"Name": "disk-id", "Values": made}], Limit=2, Offset=2)
    assert page["TotalCount"] == 3 and len(page["DiskSet"]) == 1
    portable = cbs(api, "DescribeDisks", Filters=[{"Name": "disk-id", "Values": made},
                                                  {"Name": "portable", "Values": ["TRUE"]},
                                                  {"Name": "disk-state", "Values": ["UNATTACHED"]}])
    assert portable["TotalCount"] == 3
    cbs(api, "ModifyDiskAttributes", DiskIds=made[:1], DiskName="renamed")
    assert disk(api, made[0])["DiskName"] == "renamed"
    assert api.error("cbs", "DescribeDisks", Filters=[{"Name": "colour", "Values": ["x"]}]).code == "InvalidFilter"
    assert api.error("cbs", "DescribeDisks", DiskIds=made,
                     Filters=[{"Name": "zone", "Values": [ZONE]}]).code == "InvalidParameterValue"


def test_a_full_disk_refuses_writes(make_server) -> None:
    # 1 GiB of a simulated disk holds 1 KiB here, so a 10 GiB disk fills after 10 KiB.
    srv = make_server(sim_bytes_per_gib=1024)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    ids = api.run(1, DataDisks=[{"DiskType": "CLOUD_PREMIUM", "DiskSize": 10}])
    data_id = api.instance(ids[0])["DataDisks"][0]["DiskId"]
    url = guest_url(api, ids[0])
    assert httpx.put(f"{url}/disk/a?disk={data_id}", content=b"x" * 9000).status_code == 204
    assert httpx.put(f"{url}/disk/b?disk={data_id}", content=b"x" * 2000).status_code == 507
    assert httpx.put(f"{url}/disk/a?disk={data_id}", content=b"x" * 10240).status_code == 204  # rewrite fits


def test_a_disk_moved_just_before_a_start_is_where_the_api_says(make_server) -> None:
    """A boot takes the disks attached when it finishes, in the same order as attach and detach: a disk
    detached (or attached) at the moment of StartInstances is in exactly the guests the API says."""
    srv = make_server(boot_seconds=1.0, async_op_seconds=0.2)  # the disk changes land mid-boot
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    first, second = api.run(2)
    moved, added = new_disk(api), new_disk(api)
    api.cvm("StopInstances", InstanceIds=[first], StopType="HARD")
    api.wait_state([first], "STOPPED")
    cbs(api, "AttachDisks", InstanceId=first, DiskIds=[moved])
    wait_disk(api, moved, "ATTACHED")

    cbs(api, "DetachDisks", DiskIds=[moved])
    api.cvm("StartInstances", InstanceIds=[first])
    api.wait_state([first], "RUNNING")
    assert wait_disk(api, moved, "UNATTACHED")["InstanceId"] == ""
    assert moved not in [d["DiskId"] for d in httpx.get(guest_url(api, first) + "/").json()["Disks"]]
    # One owner at a time: the next instance's writes are its own.
    cbs(api, "AttachDisks", InstanceId=second, DiskIds=[moved])
    wait_disk(api, moved, "ATTACHED")
    assert httpx.put(f"{guest_url(api, second)}/disk/k?disk={moved}", content=b"second's").status_code == 204
    assert httpx.get(f"{guest_url(api, first)}/disk/k?disk={moved}").status_code == 404

    api.cvm("StopInstances", InstanceIds=[first], StopType="HARD")
    api.wait_state([first], "STOPPED")
    cbs(api, "AttachDisks", InstanceId=first, DiskIds=[added])
    api.cvm("StartInstances", InstanceIds=[first])
    api.wait_state([first], "RUNNING")
    assert wait_disk(api, added, "ATTACHED")["InstanceId"] == first
    assert added in [d["DiskId"] for d in httpx.get(guest_url(api, first) + "/").json()["Disks"]]


def test_create_and_terminate_answer_at_once_and_the_runner_does_the_storage(server, api: Api) -> None:
    disk_id = new_disk(api)
    assert disk(api, disk_id)["DiskState"] == "UNATTACHED"  # visible at once, as Tencent shows a new disk
    storage = server.data_dir / "disks" / disk_id
    api.wait(lambda: storage.is_dir())
    cbs(api, "TerminateDisks", DiskIds=[disk_id])
    assert cbs(api, "DescribeDisks", DiskIds=[disk_id])["TotalCount"] == 0
    api.wait(lambda: not storage.exists())


def test_a_detach_cut_short_by_kill_9_ends_with_the_disk_out_of_the_guest(make_server) -> None:
    """kill -9 while a disk is DETACHING: at the restart the instance boots again (a host reboot for sim
    guests) while the detach is finished; the guest that comes up has the disk the API says it has."""
    srv = make_server(boot_seconds=1.0, async_op_seconds=0.5)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    (instance_id,) = api.run(1)
    disk_id = new_disk(api)
    cbs(api, "AttachDisks", InstanceId=instance_id, DiskIds=[disk_id])
    wait_disk(api, disk_id, "ATTACHED")
    cbs(api, "DetachDisks", DiskIds=[disk_id])
    srv.kill()
    srv.start()
    assert wait_disk(api, disk_id, "UNATTACHED")["InstanceId"] == ""
    api.wait_state([instance_id], "RUNNING")
    guest_disks = api.wait(lambda: _answering(guest_url(api, instance_id)))
    assert disk_id not in [d["DiskId"] for d in guest_disks]


def _answering(url: str) -> list[dict] | None:
    try:
        return httpx.get(url + "/", timeout=5).json()["Disks"]
    except httpx.TransportError:
        return None  # still booting after the restart
