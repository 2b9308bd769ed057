"""The same guest-level acceptance tests against both drivers, through the API: with `sim` and with
`qemu` (real VMs under TCG) a shutdown keeps disks and loses memory, SOFT / SOFT_FIRST / HARD behave the
same on a guest that ignores the power button, changes made while stopped are visible after the next
boot, a guest that dies by itself is reported, and the CLB sees it all. Kept small for 2 cores."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import time
from collections import Counter

import httpx
import pytest

from tests.support.clb import Balancer, failures, load
from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

IGNORE_ACPI = base64.b64encode(b"minicvm_ignore_power_button: true\n").decode()
DRIVERS = ["sim", "qemu"]


def qemu_missing() -> str | None:
    tools = [t for t in ("qemu-system-x86_64", "e2cp", "mkfs.ext4", "resize2fs") if shutil.which(t) is None]
    return f"qemu tests need {', '.join(tools)} (make test installs them)" if tools else None


@pytest.fixture(scope="module", params=DRIVERS)
def driver_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str):
    driver = request.param
    if driver == "qemu" and (missing := qemu_missing()):
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    srv = ServerProcess(tmp_path_factory.mktemp(f"acc-{driver}"), backend, driver=driver, soft_stop_timeout=3,
                        clb_time_scale=0.34, **({} if driver == "qemu" else {"boot_seconds": 0.5})).start(timeout=120)
    srv.driver_name = driver
    yield srv
    srv.close()
    srv.assert_clean_log()


@pytest.fixture(scope="module")
def dapi(driver_server) -> Api:
    return Api(driver_server.endpoint, SECRET_ID, SECRET_KEY)


def _run(api: Api, count: int, **params) -> list[str]:
    params.setdefault("InstanceType", "S5.SMALL1")
    ids = api.run(count, wait=False, **params)
    api.wait_state(ids, "RUNNING", timeout=120)
    return ids


def guest(api: Api, instance_id: str) -> str:
    return "http://" + api.instance(instance_id)["GuestAddress"]


def cycle(api: Api, ids: list[str], stop_type: str = "SOFT") -> None:
    api.cvm("StopInstances", InstanceIds=ids, StopType=stop_type)
    api.wait_state(ids, "STOPPED", timeout=60)
    api.cvm("StartInstances", InstanceIds=ids)
    api.wait_state(ids, "RUNNING", timeout=120)


def test_disk_kept_memory_lost(dapi: Api) -> None:
    ids = _run(dapi, 1)
    url = guest(dapi, ids[0])
    before = httpx.get(url + "/", timeout=10).json()
    assert httpx.put(url + "/disk/kept", content=b"on disk", timeout=10).status_code in (200, 201, 204)
    assert httpx.put(url + "/mem/gone", content=b"in memory", timeout=10).status_code in (200, 201, 204)
    cycle(dapi, ids)
    after = httpx.get(url + "/", timeout=10).json()
    assert after["BootId"] != before["BootId"] and after["BootCount"] == before["BootCount"] + 1
    assert httpx.get(url + "/disk/kept", timeout=10).content == b"on disk"
    assert httpx.get(url + "/mem/gone", timeout=10).status_code == 404
    dapi.cvm("TerminateInstances", InstanceIds=ids)
    dapi.wait_gone(ids, timeout=60)


def test_stop_types_on_a_guest_ignoring_the_power_button(dapi: Api) -> None:
    ids = _run(dapi, 1, UserData=IGNORE_ACPI)
    assert httpx.get(guest(dapi, ids[0]) + "/", timeout=10).json()["IgnorePowerButton"] is True
    dapi.cvm("StopInstances", InstanceIds=ids, StopType="SOFT")
    refused = dapi.wait_operation(ids[0], timeout=60)
    assert (refused["InstanceState"], refused["LatestOperationState"]) == ("RUNNING", "FAILED")
    assert httpx.get(guest(dapi, ids[0]) + "/healthz", timeout=10).status_code == 200
    dapi.cvm("StopInstances", InstanceIds=ids, StopType="SOFT_FIRST")
    assert dapi.wait_operation(ids[0], timeout=60)["InstanceState"] == "STOPPED"
    dapi.cvm("StartInstances", InstanceIds=ids)
    dapi.wait_state(ids, "RUNNING", timeout=120)
    dapi.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
    assert dapi.wait_operation(ids[0], timeout=60)["InstanceState"] == "STOPPED"
    dapi.cvm("TerminateInstances", InstanceIds=ids)
    dapi.wait_gone(ids, timeout=60)


def test_changes_while_stopped_are_seen_at_the_next_boot(dapi: Api) -> None:
    key = dapi.cvm("CreateKeyPair", KeyName=f"acc{time.monotonic_ns() % 10**9}", ProjectId=0)["KeyPair"]["KeyId"]
    ids = _run(dapi, 1, DataDisks=[{"DiskType": "CLOUD_PREMIUM", "DiskSize": 20}])
    inst = dapi.instance(ids[0])
    data_id = inst["DataDisks"][0]["DiskId"]
    dapi.cvm("StopInstances", InstanceIds=ids, StopType="SOFT")
    dapi.wait_state(ids, "STOPPED", timeout=60)
    dapi.cvm("ResetInstancesType", InstanceIds=ids, InstanceType="S5.MEDIUM4")
    dapi.wait_operation(ids[0], timeout=60)
    dapi.cvm("ResizeInstanceDisks", InstanceId=ids[0], DataDisks=[{"DiskId": data_id, "DiskSize": 40}])
    dapi.wait_operation(ids[0], timeout=60)
    dapi.cvm("ResetInstancesPassword", InstanceIds=ids, Password="Passw0rd!x")
    dapi.wait_operation(ids[0], timeout=60)
    dapi.cvm("AssociateInstancesKeyPairs", InstanceIds=ids, KeyIds=[key])
    dapi.wait_operation(ids[0], timeout=60)
    dapi.cvm("StartInstances", InstanceIds=ids)
    dapi.wait_state(ids, "RUNNING", timeout=120)
    seen = httpx.get(guest(dapi, ids[0]) + "/", timeout=10).json()
    assert (seen["CPU"], seen["MemoryGiB"]) == (2, 4)
    assert {d["DiskId"]: d["SizeGiB"] for d in seen["Disks"]}[data_id] == 40
    assert seen["PasswordChangedAt"] and len(seen["KeyFingerprints"]) == 1
    dapi.cvm("TerminateInstances", InstanceIds=ids)
    dapi.wait_gone(ids, timeout=60)


def _kill_from_outside(server: ServerProcess, api: Api, instance_id: str) -> None:
    """The guest dies by itself: the VM process is killed (qemu), or the OS powers itself off (sim)."""
    if server.driver_name == "qemu":
        state = json.loads((server.data_dir / "qemu" / instance_id / "vm.json").read_text())
        os.kill(state["pid"], signal.SIGKILL)
    else:
        httpx.post(guest(api, instance_id) + "/control/poweroff", timeout=10)


def _guest_disks(api: Api, instance_id: str) -> list[str]:
    return [d["DiskId"] for d in httpx.get(guest(api, instance_id) + "/", timeout=10).json()["Disks"]]


def _settled_disk(api: Api, disk_id: str) -> dict:
    def settled() -> dict | None:
        found = api.call("cbs", "DescribeDisks", DiskIds=[disk_id])["DiskSet"][0]
        return found if found["DiskState"] in ("ATTACHED", "UNATTACHED") else None

    return api.wait(settled, timeout=120)


def test_a_disk_moved_as_the_instance_starts_is_where_the_api_says(dapi: Api) -> None:
    """DetachDisks (or AttachDisks) and at once StartInstances: the disk change lands during the boot. The
    sim guest takes it; qemu cannot hot-plug, so it refuses it. Either way the API and the guest agree."""
    (instance_id,) = _run(dapi, 1)
    moved, added = (dapi.call("cbs", "CreateDisks", Placement={"Zone": "ap-guangzhou-3"}, DiskType="CLOUD_PREMIUM",
                              DiskChargeType="POSTPAID_BY_HOUR", DiskSize=10)["DiskIdSet"][0] for _ in range(2))
    dapi.cvm("StopInstances", InstanceIds=[instance_id], StopType="HARD")
    dapi.wait_state([instance_id], "STOPPED", timeout=60)
    dapi.call("cbs", "AttachDisks", InstanceId=instance_id, DiskIds=[moved])
    assert _settled_disk(dapi, moved)["DiskState"] == "ATTACHED"

    dapi.call("cbs", "DetachDisks", DiskIds=[moved])
    dapi.cvm("StartInstances", InstanceIds=[instance_id])
    dapi.wait_state([instance_id], "RUNNING", timeout=120)
    detached = _settled_disk(dapi, moved)["DiskState"] == "UNATTACHED"
    assert (moved not in _guest_disks(dapi, instance_id)) is detached

    dapi.cvm("StopInstances", InstanceIds=[instance_id], StopType="HARD")
    dapi.wait_state([instance_id], "STOPPED", timeout=60)
    dapi.call("cbs", "AttachDisks", InstanceId=instance_id, DiskIds=[added])
    dapi.cvm("StartInstances", InstanceIds=[instance_id])
    dapi.wait_state([instance_id], "RUNNING", timeout=120)
    attached = _settled_disk(dapi, added)["DiskState"] == "ATTACHED"
    assert (added in _guest_disks(dapi, instance_id)) is attached
    dapi.cvm("TerminateInstances", InstanceIds=[instance_id])
    dapi.wait_gone([instance_id], timeout=60)


def test_a_guest_that_dies_by_itself_is_reported_and_the_clb_sees_it(driver_server, dapi: Api) -> None:
    ids = _run(dapi, 2)
    lb = Balancer(dapi, ids, check={"HealthSwitch": 1, "IntervalTime": 3, "TimeOut": 2, "HealthNum": 2,
                                    "UnHealthNum": 2, "HttpCode": 2})
    lb.wait_health(dict.fromkeys(ids, "Alive"), timeout=60)
    _kill_from_outside(driver_server, dapi, ids[0])
    dead = dapi.wait_state(ids[:1], "STOPPED", timeout=60)[ids[0]]
    assert dead["LatestOperation"] == "RunInstances"  # no operation of ours stopped it
    lb.wait_health({ids[0]: "Dead", ids[1]: "Alive"}, timeout=60)
    with httpx.Client() as client:
        assert {lb.get(client) for _ in range(4)} == {ids[1]}
    lb.delete()
    dapi.cvm("TerminateInstances", InstanceIds=ids)
    dapi.wait_gone(ids, timeout=60)


@pytest.mark.parametrize("mode", ["no-check", "drain"])
def test_clb_with_real_guests_behind_it(dapi: Api, mode: str) -> None:
    ids = _run(dapi, 2)
    tags = [{"TagKey": "minicvm:drain-seconds", "TagValue": "10"}] if mode == "drain" else None
    lb = Balancer(dapi, ids, check={"HealthSwitch": 0}, tags=tags)
    with load(f"http://{lb.vip}:{lb.port}/", threads=2) as outcomes:
        time.sleep(0.5)
        dapi.cvm("StopInstances", InstanceIds=ids[:1], StopType="SOFT")
        dapi.wait_state(ids[:1], "STOPPED", timeout=60)
        time.sleep(0.5)
    if mode == "drain":
        assert failures(outcomes) == 0, outcomes
    else:
        with httpx.Client() as client:
            codes = Counter(client.get(f"http://{lb.vip}:{lb.port}/", timeout=10).status_code for _ in range(6))
        assert codes[502] == 3 and codes[200] == 3
    lb.delete()
    dapi.cvm("TerminateInstances", InstanceIds=ids)
    dapi.wait_gone(ids, timeout=60)



def test_guest_keys_map_to_files_safely(dapi: Api) -> None:
    """Every key names its own plain file inside the disk's key directory: keys that differ only in
    a suffix, `.`/`..`, path tricks and temp-like names never share a file or leave the directory;
    keys too long or holding NUL are refused with a 4xx, and UsedBytes counts exactly what is stored."""
    ids = _run(dapi, 1)
    url = guest(dapi, ids[0])

    def used() -> int:
        facts = httpx.get(url + "/", timeout=10).json()
        return next(d["UsedBytes"] for d in facts["Disks"] if d["System"])

    base = used()
    keys = ["x.tmp", "x.b", "x", "%2E", "%2E%2E", "%2E%2E%2Fescape", "a%2Fb", ".tmp.1", "%25", "%2525", "sp%20ace",
            "%E4%B8%AD"]
    stored: dict[str, bytes] = {}
    with httpx.Client(timeout=10) as client:
        for n, key in enumerate(keys):
            value = f"value {n} of {key}".encode() * (n + 1)
            assert client.put(f"{url}/disk/{key}", content=value).status_code == 204, key
            stored[key] = value
        for key, value in stored.items():
            assert client.get(f"{url}/disk/{key}").content == value, key
        assert used() == base + sum(len(v) for v in stored.values())
        # Deleting a key that is not there changes nothing, however its name looks.
        for ghost in ("x.b.tmp", "nothing", ".tmp.2"):
            assert client.delete(f"{url}/disk/{ghost}").status_code == 404
        assert client.delete(f"{url}/disk/x.b").status_code == 204
        assert client.delete(f"{url}/disk/x.b").status_code == 404
        del stored["x.b"]
        assert used() == base + sum(len(v) for v in stored.values())
        for key in ("k" * 300, "%E4%B8%AD" * 90):
            assert client.put(f"{url}/disk/{key}", content=b"long").status_code == 414
        assert client.put(f"{url}/disk/a%00b", content=b"nul").status_code == 400
        assert client.put(f"{url}/mem/a%00b", content=b"nul").status_code == 400
        assert client.get(f"{url}/disk/a").status_code == 404
        # The connection and the guest are fine after every refusal.
        assert client.get(f"{url}/disk/x.tmp").content == stored["x.tmp"]
    assert used() == base + sum(len(v) for v in stored.values())
    dapi.cvm("TerminateInstances", InstanceIds=ids)
