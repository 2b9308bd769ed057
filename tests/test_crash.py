"""Crash suite: `kill -9` of the server at a random moment while an operation it acknowledged runs — every
kind of operation in turn (instance stop/start/reboot/terminate/resize, CBS create/attach/detach/terminate,
EIP allocate/associate/disassociate/release, CLB target registration, an Auto Scaling replacement) — then a
restart, and the invariants: nothing stuck in a transitional state, every acknowledged operation carried
out exactly once, the guests' disks exactly the store's, and no disk write that was acknowledged lost.

CI runs MINICVM_CRASH_ROUNDS (20) rounds per database whose kill comes after the request was acknowledged,
then MINICVM_CRASH_IN_FLIGHT_ROUNDS (10) whose kill may come before, from a fixed seed (MINICVM_CRASH_SEED)."""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa

from minicvm.store.tables import disks, instances, operations
from tests.support.autoscaling import Group
from tests.support.clb import clb
from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

ROUNDS = int(os.environ.get("MINICVM_CRASH_ROUNDS", "20"))
# Rounds whose kill may also land before the request is answered (or even sent).
IN_FLIGHT_ROUNDS = int(os.environ.get("MINICVM_CRASH_IN_FLIGHT_ROUNDS", "10"))
SEED = int(os.environ.get("MINICVM_CRASH_SEED", "13"))
TIMINGS = {"boot_seconds": 0.3, "shutdown_seconds": 0.3, "soft_stop_timeout": 1.0, "async_op_seconds": 0.2,
           "as_interval": 0.2, "clb_time_scale": 0.1}
ZONE = {"Zone": "ap-guangzhou-3"}
BUSY_DISK = {"ATTACHING", "DETACHING", "EXPANDING"}
BUSY_EIP = {"CREATING", "BINDING", "UNBINDING", "OFFLINING"}
TRANSITIONAL = {"PENDING", "STARTING", "STOPPING", "REBOOTING", "TERMINATING"}


@dataclass
class Cloud:
    """What the rounds share: a server, a keeper instance whose disks take writes all the time, a worker
    instance the instance operations act on, an elastic disk, an EIP, a load balancer and a group."""

    srv: ServerProcess
    api: Api
    keeper: str = ""
    worker: str = ""
    disk: str = ""
    eip: str = ""
    lb: str = ""
    listener: str = ""
    group: Group | None = None
    # (instance, disk or "") -> the values that may be there: the last acknowledged one, and any sent after it
    # whose answer the kill cut off (a write may land without its acknowledgement getting out).
    acked: dict[tuple[str, str], list[bytes]] = field(default_factory=dict)


def _store(cloud: Cloud) -> sa.Engine:
    return sa.create_engine(cloud.srv.database_url or f"sqlite:///{cloud.srv.data_dir / 'minicvm.db'}")


def _state(api: Api, iid: str) -> str | None:
    found = api.instances([iid])
    return found[iid]["InstanceState"] if iid in found else None


def _ensure(api: Api, iid: str, state: str) -> None:
    api.wait_state([iid], _state(api, iid) or state)
    if _state(api, iid) != state:
        api.cvm("StartInstances" if state == "RUNNING" else "StopInstances", InstanceIds=[iid])
    api.wait_state([iid], state)


def _disk(api: Api, disk: str) -> dict | None:
    found = api.call("cbs", "DescribeDisks", DiskIds=[disk])["DiskSet"]
    return found[0] if found else None


def _eip(api: Api, eip: str) -> dict | None:
    found = api.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"]
    return found[0] if found else None


def _targets(cloud: Cloud) -> set[str]:
    listeners = clb(cloud.api, "DescribeTargets", LoadBalancerId=cloud.lb)["Listeners"]
    return {t["InstanceId"] for lst in listeners for t in lst["Targets"] or []}


@contextmanager
def _writing(cloud: Cloud) -> Iterator[None]:
    """Keep writing to the keeper's system disk and its data disk until the kill; remember what was acked."""
    address = cloud.api.instance(cloud.keeper)["GuestAddress"]
    data_disks = [d["DiskId"] for d in cloud.api.call("cbs", "DescribeDisks", Filters=[
        {"Name": "instance-id", "Values": [cloud.keeper]}])["DiskSet"] if d["DiskUsage"] == "DATA_DISK"]
    stop = threading.Event()

    def write() -> None:
        n = 0
        with httpx.Client(base_url=f"http://{address}", timeout=2) as guest:
            while not stop.is_set():
                n += 1
                for disk in ["", *data_disks]:
                    value = f"{time.monotonic_ns()}-{n}".encode()
                    cloud.acked.setdefault((cloud.keeper, disk), []).append(value)
                    try:
                        ok = guest.put("/disk/crash", params={"disk": disk} if disk else {}, content=value)
                    except httpx.HTTPError:
                        return  # the server (and so the guest) is gone
                    if ok.status_code == 204:
                        cloud.acked[(cloud.keeper, disk)] = [value]

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


# ---- the operations: each prepares, fires one acknowledged request, and returns the check of its outcome --

Check = Callable[[], bool]


def op_stop(c: Cloud) -> Check:
    _ensure(c.api, c.worker, "RUNNING")
    c.api.cvm("StopInstances", InstanceIds=[c.worker], StopType="SOFT_FIRST")
    return lambda: _state(c.api, c.worker) == "STOPPED"


def op_start(c: Cloud) -> Check:
    _ensure(c.api, c.worker, "STOPPED")
    c.api.cvm("StartInstances", InstanceIds=[c.worker])
    return lambda: _state(c.api, c.worker) == "RUNNING"


def op_reboot(c: Cloud) -> Check:
    _ensure(c.api, c.worker, "RUNNING")
    c.api.cvm("RebootInstances", InstanceIds=[c.worker], StopType="SOFT")
    return lambda: _state(c.api, c.worker) == "RUNNING"


def op_resize(c: Cloud) -> Check:
    _ensure(c.api, c.worker, "RUNNING")
    target = "S5.MEDIUM4" if c.api.instance(c.worker)["InstanceType"] != "S5.MEDIUM4" else "S5.MEDIUM2"
    c.api.cvm("ResetInstancesType", InstanceIds=[c.worker], InstanceType=target, ForceStop=True)
    return lambda: (i := c.api.instance(c.worker))["InstanceType"] == target and i["InstanceState"] == "RUNNING"


def op_terminate(c: Cloud) -> Check:
    (doomed,) = c.api.run(1)
    c.api.cvm("TerminateInstances", InstanceIds=[doomed])
    return lambda: _state(c.api, doomed) is None


def op_attach(c: Cloud) -> Check:
    if (_disk(c.api, c.disk) or {}).get("DiskState") == "ATTACHED":
        c.api.call("cbs", "DetachDisks", DiskIds=[c.disk])
        c.api.wait(lambda: _disk(c.api, c.disk)["DiskState"] == "UNATTACHED")
    c.api.call("cbs", "AttachDisks", DiskIds=[c.disk], InstanceId=c.worker)
    return lambda: (d := _disk(c.api, c.disk)) is not None and (d["DiskState"], d["InstanceId"]) == ("ATTACHED", c.worker)


def op_detach(c: Cloud) -> Check:
    if (_disk(c.api, c.disk) or {}).get("DiskState") != "ATTACHED":
        c.api.call("cbs", "AttachDisks", DiskIds=[c.disk], InstanceId=c.worker)
        c.api.wait(lambda: _disk(c.api, c.disk)["DiskState"] == "ATTACHED")
    c.api.call("cbs", "DetachDisks", DiskIds=[c.disk])
    return lambda: (_disk(c.api, c.disk) or {}).get("DiskState") == "UNATTACHED"


def op_create_disk(c: Cloud) -> Check:
    before = c.api.call("cbs", "DescribeDisks", Limit=100)["TotalCount"]
    (made,) = c.api.call("cbs", "CreateDisks", Placement=ZONE, DiskChargeType="POSTPAID_BY_HOUR",
                         DiskType="CLOUD_PREMIUM", DiskSize=10, DiskCount=1)["DiskIdSet"]
    return lambda: ((_disk(c.api, made) or {}).get("DiskState") == "UNATTACHED"
                    and c.api.call("cbs", "DescribeDisks", Limit=100)["TotalCount"] == before + 1)


def op_terminate_disk(c: Cloud) -> Check:
    (spare,) = c.api.call("cbs", "CreateDisks", Placement=ZONE, DiskChargeType="POSTPAID_BY_HOUR",
                          DiskType="CLOUD_PREMIUM", DiskSize=10, DiskCount=1)["DiskIdSet"]
    c.api.wait(lambda: _disk(c.api, spare)["DiskState"] == "UNATTACHED")
    c.api.call("cbs", "TerminateDisks", DiskIds=[spare])
    return lambda: _disk(c.api, spare) is None


def op_allocate(c: Cloud) -> Check:
    before = c.api.call("vpc", "DescribeAddresses", Limit=100)["TotalCount"]
    (made,) = c.api.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"]
    return lambda: ((_eip(c.api, made) or {}).get("AddressStatus") == "UNBIND"
                    and c.api.call("vpc", "DescribeAddresses", Limit=100)["TotalCount"] == before + 1)


def op_release(c: Cloud) -> Check:
    (spare,) = c.api.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"]
    c.api.wait(lambda: _eip(c.api, spare)["AddressStatus"] == "UNBIND")
    c.api.call("vpc", "ReleaseAddresses", AddressIds=[spare])
    return lambda: _eip(c.api, spare) is None


def op_associate(c: Cloud) -> Check:
    _ensure(c.api, c.worker, "RUNNING")
    if (_eip(c.api, c.eip) or {}).get("AddressStatus") != "UNBIND":
        c.api.call("vpc", "DisassociateAddress", AddressId=c.eip)
        c.api.wait(lambda: _eip(c.api, c.eip)["AddressStatus"] == "UNBIND")
    c.api.call("vpc", "AssociateAddress", AddressId=c.eip, InstanceId=c.worker)
    return lambda: (e := _eip(c.api, c.eip)) is not None and (e["AddressStatus"], e["InstanceId"]) == ("BIND", c.worker)


def op_disassociate(c: Cloud) -> Check:
    _ensure(c.api, c.worker, "RUNNING")
    if (_eip(c.api, c.eip) or {}).get("AddressStatus") != "BIND":
        c.api.call("vpc", "AssociateAddress", AddressId=c.eip, InstanceId=c.worker)
        c.api.wait(lambda: _eip(c.api, c.eip)["AddressStatus"] == "BIND")
    c.api.call("vpc", "DisassociateAddress", AddressId=c.eip)
    return lambda: (_eip(c.api, c.eip) or {}).get("AddressStatus") == "UNBIND"


def op_register(c: Cloud) -> Check:
    if c.worker in _targets(c):
        clb(c.api, "DeregisterTargets", LoadBalancerId=c.lb, ListenerId=c.listener,
            Targets=[{"InstanceId": c.worker, "Port": 80}])
    clb(c.api, "RegisterTargets", LoadBalancerId=c.lb, ListenerId=c.listener,
        Targets=[{"InstanceId": c.worker, "Port": 80}])
    return lambda: c.worker in _targets(c)


def op_replace(c: Cloud) -> Check:
    g = c.group
    assert g is not None
    (victim,) = g.wait_in_service(1, timeout=60)
    c.api.cvm("StopInstances", InstanceIds=[victim], StopType="HARD")

    def replaced() -> bool:
        members = g.members()
        if victim in members or len(members) != 1 or {m["LifeCycleState"] for m in members.values()} != {"IN_SERVICE"}:
            return False
        if _state(c.api, victim) is not None:
            return False
        replaces = [a for a in g.activities() if a["ActivityType"] == "REPLACE_UNHEALTHY_INSTANCE"
                    and victim in a["Cause"]]
        assert len(replaces) == 1, replaces  # replaced once, not once per restart
        return True
    return replaced


OPERATIONS = [op_stop, op_start, op_reboot, op_resize, op_terminate, op_attach, op_detach, op_create_disk,
              op_terminate_disk, op_allocate, op_associate, op_disassociate, op_release, op_register, op_replace]


# ---- invariants after each restart ------------------------------------------------------------------------


def _settled(c: Cloud) -> bool:
    listed = c.api.cvm("DescribeInstances", Limit=100)["InstanceSet"]
    if any(i["InstanceState"] in TRANSITIONAL or i["LatestOperationState"] == "OPERATING" for i in listed):
        return False
    if any(d["DiskState"] in BUSY_DISK for d in c.api.call("cbs", "DescribeDisks", Limit=100)["DiskSet"]):
        return False
    return not any(a["AddressStatus"] in BUSY_EIP for a in c.api.call("vpc", "DescribeAddresses", Limit=100)["AddressSet"])


def _guest(api: Api, address: str) -> dict:
    """The guest's own account of itself. After a restart (a host reboot for sim guests) the store says RUNNING
    while the guest is still booting again, as a real host's instances do: give it its boot time."""
    def answer() -> dict | None:
        try:
            return httpx.get(f"http://{address}/", timeout=5).json()
        except httpx.HTTPError:
            return None
    return api.wait(answer, timeout=10)


def _check_invariants(c: Cloud, store: sa.Engine) -> None:
    with store.connect() as conn:
        in_flight = conn.execute(sa.select(operations.c.id, operations.c.action).where(
            operations.c.state == "OPERATING")).all()
        stored = {r.id: r.state for r in conn.execute(sa.select(instances.c.id, instances.c.state))}
        attached: dict[str, set[str]] = {}
        for d in conn.execute(sa.select(disks.c.id, disks.c.instance_id).where(disks.c.instance_id.is_not(None))):
            attached.setdefault(d.instance_id, set()).add(d.id)
        # One operation per request and resource: a request carried out twice would show as two.
        doubled = conn.execute(sa.select(operations.c.request_id, operations.c.resource_id, sa.func.count())
                               .group_by(operations.c.request_id, operations.c.resource_id)
                               .having(sa.func.count() > 1)).all()
    assert not in_flight, f"operations left in flight after settling: {in_flight}"
    assert not doubled, f"requests carried out more than once: {doubled}"
    listed = {i["InstanceId"]: i for i in c.api.cvm("DescribeInstances", Limit=100)["InstanceSet"]}
    assert {i: v["InstanceState"] for i, v in listed.items()} == stored
    for iid, inst in listed.items():
        if inst["InstanceState"] != "RUNNING":
            continue
        seen = _guest(c.api, inst["GuestAddress"])
        assert {d["DiskId"] for d in seen["Disks"]} == attached.get(iid, set()), (iid, seen["Disks"], attached.get(iid))
    for (iid, disk), values in c.acked.items():
        address = listed[iid]["GuestAddress"]
        got = httpx.get(f"http://{address}/disk/crash", params={"disk": disk} if disk else {}, timeout=5)
        assert got.content in values, f"an acknowledged write to {iid} {disk or 'system disk'} was lost"
        c.acked[(iid, disk)] = [got.content]


def _setup(c: Cloud) -> None:
    c.keeper, c.worker = c.api.run(2, InstanceType="S5.MEDIUM2",
                                   DataDisks=[{"DiskType": "CLOUD_PREMIUM", "DiskSize": 10}])
    (c.disk,) = c.api.call("cbs", "CreateDisks", Placement=ZONE, DiskChargeType="POSTPAID_BY_HOUR",
                           DiskType="CLOUD_PREMIUM", DiskSize=10, DiskCount=1)["DiskIdSet"]
    (c.eip,) = c.api.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"]
    c.lb = clb(c.api, "CreateLoadBalancer", LoadBalancerType="OPEN")["LoadBalancerIds"][0]
    c.listener = clb(c.api, "CreateListener", LoadBalancerId=c.lb, Ports=[80], Protocol="TCP",
                     HealthCheck={"HealthSwitch": 0})["ListenerIds"][0]
    c.group = Group(c.api, size=1, drain=False, check=None, min_size=0, max_size=2)
    c.group.wait_in_service(1)
    c.api.wait(_cloud_settled(c), timeout=30)


def _cloud_settled(c: Cloud) -> Callable[[], bool]:
    return lambda: _settled(c)


def _tidy(c: Cloud) -> None:
    """Spare disks and EIPs that rounds made are given back, so that quotas never run out."""
    keep_disks = {c.disk}
    spare_disks = [d["DiskId"] for d in c.api.call("cbs", "DescribeDisks", Limit=100)["DiskSet"]
                   if d["Portable"] and d["DiskId"] not in keep_disks and d["DiskState"] == "UNATTACHED"]
    if spare_disks:
        c.api.call("cbs", "TerminateDisks", DiskIds=spare_disks)
    spare_eips = [a["AddressId"] for a in c.api.call("vpc", "DescribeAddresses", Limit=100)["AddressSet"]
                  if a["AddressId"] != c.eip and a["AddressStatus"] == "UNBIND" and a["AddressType"] == "EIP"]
    if spare_eips:
        c.api.call("vpc", "ReleaseAddresses", AddressIds=spare_eips)


def test_kill_9_during_every_kind_of_operation(make_server) -> None:
    rng = random.Random(SEED)
    srv: ServerProcess = make_server(**TIMINGS)
    cloud = Cloud(srv, Api(srv.endpoint, SECRET_ID, SECRET_KEY))
    _setup(cloud)
    store = _store(cloud)
    done: dict[str, int] = {}
    started = time.monotonic()
    try:
        for n in range(ROUNDS + IN_FLIGHT_ROUNDS):
            in_flight = n >= ROUNDS
            operation = rng.choice(OPERATIONS) if in_flight else OPERATIONS[n % len(OPERATIONS)]
            _tidy(cloud)
            cloud.api.wait(_cloud_settled(cloud), timeout=30)
            with _writing(cloud):
                if in_flight:
                    outcome = _killed_in_flight(srv, cloud, operation, rng.uniform(0, 0.5))
                else:
                    outcome = operation(cloud)
                    time.sleep(rng.uniform(0, 0.6))  # somewhere in the operation's steps (or just after)
                    srv.kill()
            srv.start()
            cloud.api.wait(_cloud_settled(cloud), timeout=60)
            if outcome is not None:
                cloud.api.wait(outcome, timeout=60)  # acknowledged, so carried out: not lost
                cloud.api.wait(_cloud_settled(cloud), timeout=60)
            _check_invariants(cloud, store)
            kind = f"{operation.__name__}{' (in flight)' if in_flight else ''}"
            done[kind] = done.get(kind, 0) + 1
    finally:
        store.dispose()
    print(f"crash suite: {ROUNDS} + {IN_FLIGHT_ROUNDS} kill -9 rounds in {time.monotonic() - started:.0f} s: {done}")
    assert sum(done.values()) == ROUNDS + IN_FLIGHT_ROUNDS


def _killed_in_flight(srv: ServerProcess, cloud: Cloud, operation: Callable[[Cloud], Check],
                      delay: float) -> Check | None:
    """The operation (its preparation and its request) runs while the server is killed under it: the kill may
    land before, during or after the request. Its outcome is checked only if it was acknowledged."""
    acknowledged: list[Check] = []

    def fire() -> None:
        with contextlib.suppress(Exception):  # the server is killed under it
            acknowledged.append(operation(cloud))

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    time.sleep(delay)
    srv.kill()
    thread.join(30)
    assert not thread.is_alive(), "the operation did not notice the server was gone"
    return acknowledged[0] if acknowledged else None
