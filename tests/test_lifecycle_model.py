"""Model-based lifecycle test: hypothesis drives random sequences of instance, disk and address actions
(some fired two at a time) through the official SDK against a real server, and after every step the API,
the guests (disks and their data, memory, boot id) and the store must agree with a model of what should
be, and no instance may have moved outside the lifecycle table.

CI runs a fixed seed and a few short sequences per database; MINICVM_MODEL_EXAMPLES and
MINICVM_MODEL_STEPS make a longer run (and MINICVM_MODEL_SEED another seed). The seed fixes hypothesis's
draws; two runs can still part ways where a race's outcome (which request came first) changes what the
model allows next."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from minicvm.domain import lifecycle as lc
from minicvm.domain.catalog import INSTANCE_TYPES
from minicvm.domain.states import TRANSITIONAL, StoppedMode, StopType
from minicvm.domain.steps import ChangeInstanceType, InstanceStep, ResetPassword, Step, decode_steps
from minicvm.store.tables import addresses, disks, instances, operations
from tests.support.client import Api, SdkError
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

EXAMPLES = int(os.environ.get("MINICVM_MODEL_EXAMPLES", "8"))
STEPS = int(os.environ.get("MINICVM_MODEL_STEPS", "20"))
SEED = int(os.environ.get("MINICVM_MODEL_SEED", "20261202"))
POOL = 3  # instances alive at most at once
TYPES = ["S5.SMALL1", "S5.MEDIUM2", "S5.MEDIUM4"]
FAST = {"boot_seconds": 0.05, "shutdown_seconds": 0.05, "soft_stop_timeout": 0.5, "async_op_seconds": 0.02}


@pytest.fixture(scope="module")
def model_server(tmp_path_factory, backend) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp(f"model-{backend}"), backend, **FAST).start()
    yield srv
    srv.close()
    srv.assert_clean_log()


@dataclass
class Inst:
    state: str
    itype: str
    boot_id: str = ""  # the boot id last seen; "" until the first look, and after a boot is expected
    rebooted: bool = False  # an accepted action powered it off or rebooted it since the last look
    stopped_mode: StoppedMode = StoppedMode.KEEP_CHARGING  # of its last stop


@dataclass
class World:
    insts: dict[str, Inst] = field(default_factory=dict)
    disk_owner: dict[str, str | None] = field(default_factory=dict)
    disk_data: dict[str, bytes] = field(default_factory=dict)  # acknowledged writes: the last value per disk
    eip_owner: dict[str, str | None] = field(default_factory=dict)


def _allowed_path(action: str, before: str, params: lc.Params) -> set[str]:
    """The states an instance may show while an accepted action runs: where it was, and what each step of
    its plan enters and leaves it in."""
    seen = {before}
    state = before
    for step in lc.plan(action, lc.Facts(before), params):
        if isinstance(step, InstanceStep):
            seen.add(step.enters or state)
            state = step.ends_in or state
            seen.add(state)
    return seen


class Lifecycle(RuleBasedStateMachine):
    api: Api
    server: ServerProcess
    store: sa.Engine

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.outcomes: dict[str, int] = {}

    # ---- plumbing -----------------------------------------------------------------------------------

    def _note(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1

    def _live(self) -> list[str]:
        return sorted(self.world.insts)

    def _pick(self, index: int) -> str:
        live = self._live()
        return live[index % len(live)]

    def _call(self, service: str, action: str, **params: object) -> str | None:
        """None when accepted, else the error code."""
        try:
            self.api.call(service, action, **params)
            return None
        except SdkError as exc:
            return exc.code

    def _settle(self, instance_ids: list[str], allowed: dict[str, set[str]] | None = None) -> dict[str, dict]:
        """Wait until none of these instances is in a transitional state or an operation (nor any disk or
        address mid-change), checking every state seen on the way against `allowed`."""
        deadline = time.monotonic() + 30
        while True:
            found = self.api.instances(instance_ids) if instance_ids else {}
            for iid, inst in found.items():
                if allowed is not None and iid in allowed:
                    assert inst["InstanceState"] in allowed[iid], (iid, inst["InstanceState"], allowed[iid])
            busy = [i for i in found.values()
                    if i["InstanceState"] in TRANSITIONAL or i["LatestOperationState"] == "OPERATING"]
            disk_busy = [d for d in self._disks().values() if d["DiskState"] in ("ATTACHING", "DETACHING")]
            eip_busy = [a for a in self._eips().values() if a["AddressStatus"] in ("BINDING", "UNBINDING")]
            if not busy and not disk_busy and not eip_busy:
                return found
            assert time.monotonic() < deadline, f"still busy: {busy} {disk_busy} {eip_busy}"
            time.sleep(0.02)

    def _disks(self) -> dict[str, dict]:
        if not self.world.disk_owner:
            return {}
        found = self.api.call("cbs", "DescribeDisks", DiskIds=list(self.world.disk_owner), Limit=100)["DiskSet"]
        return {d["DiskId"]: d for d in found}

    def _eips(self) -> dict[str, dict]:
        if not self.world.eip_owner:
            return {}
        found = self.api.call("vpc", "DescribeAddresses", AddressIds=list(self.world.eip_owner), Limit=100)
        return {a["AddressId"]: a for a in found["AddressSet"]}

    def _instance_action(self, action: str, iid: str, params: lc.Params, extra: str | None = None,
                         **wire: object) -> bool:
        """Send one instance action; the lifecycle table (then `extra`, the action's own refusal code if
        the table lets it through) predicts whether it is taken, and where it ends. True if taken."""
        inst = self.world.insts[iid]
        refused = lc.refusal(action, iid, inst.state, None, forced=bool(wire.get("ForceStop")))
        expected = refused.code if refused is not None else extra
        code = self._call("cvm", action, InstanceIds=[iid], **wire)
        assert code == expected, (action, iid, inst.state, code, expected)
        if expected is not None:
            self._note(f"{action} refused")
            self._settle([iid], {iid: {inst.state}})
            return False
        self._note(str(action))
        self._accepted(action, iid, params)
        return True

    def _accepted(self, action: str, iid: str, params: lc.Params) -> None:
        self._settle([iid], {iid: _allowed_path(action, self.world.insts[iid].state, params)})
        self._apply(action, iid, params)

    def _apply(self, action: str, iid: str, params: lc.Params) -> None:
        """The model follows an action the server took."""
        inst = self.world.insts[iid]
        moved = lc.transition(action, lc.Facts(inst.state), params)
        self._check_operation(iid, action, moved.steps)
        if moved.final == "TERMINATED":
            self._forget(iid)
            return
        inst.rebooted = inst.rebooted or any(type(s).__name__ in ("PowerOff", "Reboot") for s in moved.steps)
        inst.state = moved.final

    def _check_operation(self, iid: str, action: str, steps: list[Step]) -> None:
        """The store carried out the table's plan for this action, to the end."""
        with self.store.connect() as conn:
            row = conn.execute(sa.select(operations).where(operations.c.resource_id == iid,
                                                           operations.c.action == action)
                               .order_by(operations.c.seq.desc()).limit(1)).first()
        if not steps:
            return  # nothing to carry out, so no operation is written
        assert row is not None, (iid, action)
        stored = [type(step).__name__ for step in decode_steps(row.steps)]
        assert stored == [type(step).__name__ for step in steps], (iid, action, stored)
        assert row.state == "SUCCESS", (iid, action, row.state, row.error)

    def _forget(self, iid: str) -> None:
        del self.world.insts[iid]
        for disk, owner in self.world.disk_owner.items():
            if owner == iid:
                self.world.disk_owner[disk] = None
        for eip, owner in self.world.eip_owner.items():
            if owner == iid:
                self.world.eip_owner[eip] = None

    # ---- the world ----------------------------------------------------------------------------------

    @initialize()
    def setup(self) -> None:
        for iid in self.api.run(2, InstanceType=TYPES[0]):
            self.world.insts[iid] = Inst(lc.RUNNING, TYPES[0])
        made = self.api.call("cbs", "CreateDisks", Placement={"Zone": "ap-guangzhou-3"}, DiskChargeType="POSTPAID_BY_HOUR",
                             DiskType="CLOUD_PREMIUM", DiskSize=10, DiskCount=2)["DiskIdSet"]
        for disk in made:
            self.world.disk_owner[disk] = None
        eip = self.api.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"][0]
        self.world.eip_owner[eip] = None
        self.api.wait(lambda: {d["DiskState"] for d in self._disks().values()} == {"UNATTACHED"})
        self.api.wait(lambda: {a["AddressStatus"] for a in self._eips().values()} == {"UNBIND"})

    @precondition(lambda self: len(self.world.insts) < POOL)
    @rule(itype=st.sampled_from(TYPES))
    def run(self, itype: str) -> None:
        (iid,) = self.api.cvm("RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-eb30mz89",
                              InstanceType=itype, InstanceCount=1)["InstanceIdSet"]
        self._note("RunInstances")
        self._settle([iid], {iid: {lc.PENDING, lc.RUNNING}})
        self.world.insts[iid] = Inst(lc.RUNNING, itype)

    @precondition(lambda self: bool(self.world.insts))
    @rule(i=st.integers(0, POOL - 1), stop_type=st.sampled_from(list(StopType)),
          mode=st.sampled_from(list(StoppedMode)))
    def stop(self, i: int, stop_type: StopType, mode: StoppedMode) -> None:
        iid = self._pick(i)
        if self._instance_action(lc.Action.STOP, iid, lc.StopRequest(stop_type, mode),
                                 StopType=stop_type.value, StoppedMode=mode.value):
            self.world.insts[iid].stopped_mode = mode

    @precondition(lambda self: bool(self.world.insts))
    @rule(i=st.integers(0, POOL - 1))
    def start(self, i: int) -> None:
        self._instance_action(lc.Action.START, self._pick(i), None)

    @precondition(lambda self: bool(self.world.insts))
    @rule(i=st.integers(0, POOL - 1), stop_type=st.sampled_from(list(StopType)))
    def reboot(self, i: int, stop_type: StopType) -> None:
        self._instance_action(lc.Action.REBOOT, self._pick(i), lc.RebootRequest(stop_type), StopType=stop_type.value)

    @precondition(lambda self: len(self.world.insts) > 1)
    @rule(i=st.integers(0, POOL - 1))
    def terminate(self, i: int) -> None:
        self._instance_action(lc.Action.TERMINATE, self._pick(i), lc.TerminateRequest())

    @precondition(lambda self: bool(self.world.insts))
    @rule(i=st.integers(0, POOL - 1), itype=st.sampled_from(TYPES), force=st.booleans())
    def resize(self, i: int, itype: str, force: bool) -> None:
        iid = self._pick(i)
        inst = self.world.insts[iid]
        # ResetInstancesType's own refusals; every type here is of one family.
        extra = ("InvalidParameterValue" if inst.itype == itype else
                 "UnsupportedOperation.StoppedModeStopChargingSameFamily"
                 if inst.state == lc.STOPPED and inst.stopped_mode == StoppedMode.STOP_CHARGING else None)
        if self._instance_action(lc.Action.RESET_TYPE, iid, ChangeInstanceType(itype), extra,
                                 InstanceType=itype, ForceStop=force):
            inst.itype = itype

    @precondition(lambda self: bool(self.world.insts))
    @rule(i=st.integers(0, POOL - 1), force=st.booleans())
    def reset_password(self, i: int, force: bool) -> None:
        self._instance_action(lc.Action.RESET_PASSWORD, self._pick(i), ResetPassword("", "", ""), None,
                              Password="Model-Test-123", ForceStop=force)

    @precondition(lambda self: bool(self.world.insts))
    @rule(d=st.integers(0, 1), i=st.integers(0, POOL - 1))
    def attach(self, d: int, i: int) -> None:
        disk, iid = sorted(self.world.disk_owner)[d], self._pick(i)
        code = self._call("cbs", "AttachDisks", DiskIds=[disk], InstanceId=iid)
        taken = self.world.disk_owner[disk] is None and self.world.insts[iid].state in (lc.RUNNING, lc.STOPPED)
        assert (code is None) == taken, (disk, iid, self.world.disk_owner[disk], self.world.insts[iid].state, code)
        self._note("AttachDisks" if taken else "AttachDisks refused")
        state = self.world.insts[iid].state
        self._settle([iid], {iid: {state}})
        if taken:
            self.world.disk_owner[disk] = iid

    # Mostly when there is something to detach or unbind: refusals of an idle disk or EIP are cheap to find, and
    # steps spent on them are steps not spent moving things.
    @precondition(lambda self: any(self.world.disk_owner.values()))
    @rule(d=st.integers(0, 1))
    def detach(self, d: int) -> None:
        disk = sorted(self.world.disk_owner)[d]
        owner = self.world.disk_owner[disk]
        code = self._call("cbs", "DetachDisks", DiskIds=[disk])
        assert (code is None) == (owner is not None), (disk, owner, code)
        self._note("DetachDisks" if owner else "DetachDisks refused")
        self._settle([owner] if owner else [], {owner: {self.world.insts[owner].state}} if owner else {})
        self.world.disk_owner[disk] = None

    @precondition(lambda self: bool(self.world.insts))
    @rule(i=st.integers(0, POOL - 1))
    def associate(self, i: int) -> None:
        (eip,) = self.world.eip_owner
        iid = self._pick(i)
        code = self._call("vpc", "AssociateAddress", AddressId=eip, InstanceId=iid)
        inst = self.world.insts[iid]
        # An EIP binds to a running or stopped instance, except one stopped in STOP_CHARGING mode.
        stop_charging = inst.state == lc.STOPPED and inst.stopped_mode == StoppedMode.STOP_CHARGING
        if self.world.eip_owner[eip] is None and not stop_charging:
            assert code is None, code
            self._note("AssociateAddress")
            self.world.eip_owner[eip] = iid
        else:
            assert code is not None
            self._note("AssociateAddress refused")
        self._settle([iid])

    @precondition(lambda self: any(self.world.eip_owner.values()))
    @rule()
    def disassociate(self) -> None:
        (eip,) = self.world.eip_owner
        code = self._call("vpc", "DisassociateAddress", AddressId=eip)
        assert (code is None) == (self.world.eip_owner[eip] is not None), code
        self._note("DisassociateAddress" if code is None else "DisassociateAddress refused")
        self.world.eip_owner[eip] = None
        self._settle([])

    @precondition(lambda self: bool(self.world.insts))
    @rule(i=st.integers(0, POOL - 1), pair=st.sampled_from([
        (lc.Action.STOP, lc.Action.STOP), (lc.Action.STOP, lc.Action.REBOOT), (lc.Action.START, lc.Action.START),
        (lc.Action.STOP, lc.Action.TERMINATE), (lc.Action.START, lc.Action.TERMINATE)]))
    def race(self, i: int, pair: tuple[lc.Action, lc.Action]) -> None:
        """Two conflicting requests at once from two clients: at most one wins, and the loser is refused
        as the table says for the state the winner moved it to (or for an operation in flight)."""
        iid = self._pick(i)
        inst = self.world.insts[iid]
        params: dict[lc.Action, lc.Params] = {lc.Action.STOP: lc.StopRequest(StopType.HARD),
                                              lc.Action.REBOOT: lc.RebootRequest(StopType.HARD),
                                              lc.Action.START: None, lc.Action.TERMINATE: lc.TerminateRequest()}
        wire: dict[lc.Action, dict[str, object]] = {lc.Action.STOP: {"StopType": "HARD"},
                                                    lc.Action.REBOOT: {"StopType": "HARD"}}
        clients = [Api(self.api.endpoint, SECRET_ID, SECRET_KEY) for _ in pair]
        with ThreadPoolExecutor(2) as pool:
            codes = list(pool.map(lambda a: self._race_call(a[0], a[1], iid, wire.get(a[1], {})),
                                  zip(clients, pair, strict=True)))
        takers = [a for a in pair if lc.refusal(a, iid, inst.state, None) is None]
        winners = [a for a, c in zip(pair, codes, strict=True) if c is None]
        assert bool(winners) == bool(takers), (inst.state, pair, codes)
        for code in codes:
            assert code is None or code.startswith(("UnsupportedOperation.InstanceState",
                                                    "OperationDenied.InstanceOperationInProgress")), codes
        self._note(f"race {pair[0]}/{pair[1]}")
        if len(winners) == 2:
            # Both taken: only if the first had finished before the second arrived, so the second had to be
            # allowed in the state the first left the instance in.
            orders = [(x, y) for x, y in (pair, pair[::-1])
                      if (mid := lc.transition(x, lc.Facts(inst.state), params[x]).final) != "TERMINATED"
                      and lc.refusal(y, iid, mid, None) is None]
            assert orders, (inst.state, pair, codes)
            first, second = orders[0]
            mid = lc.transition(first, lc.Facts(inst.state), params[first]).final
            allowed = _allowed_path(first, inst.state, params[first]) | _allowed_path(second, mid, params[second])
            self._settle([iid], {iid: allowed})
            self._apply(first, iid, params[first])
            self._apply(second, iid, params[second])
            self._note("race both in turn")
        elif winners:
            self._accepted(winners[0], iid, params[winners[0]])
        else:
            self._settle([iid], {iid: {inst.state}})
        if lc.Action.STOP in winners and iid in self.world.insts:
            self.world.insts[iid].stopped_mode = StoppedMode.KEEP_CHARGING

    @staticmethod
    def _race_call(client: Api, action: str, iid: str, wire: dict[str, object]) -> str | None:
        try:
            client.cvm(action, InstanceIds=[iid], **wire)
            return None
        except SdkError as exc:
            return exc.code

    # ---- what must always hold ----------------------------------------------------------------------

    @invariant()
    def api_guest_and_store_agree(self) -> None:
        world = self.world
        found = self._settle(self._live())
        assert set(found) == set(world.insts), (set(found), set(world.insts))
        disks_now = self._disks()
        eips_now = self._eips()
        with self.store.connect() as conn:
            stored = {r.id: r for r in conn.execute(sa.select(instances).where(instances.c.id.in_(self._live())))}
            stored_disks = {r.id: r for r in conn.execute(sa.select(disks).where(disks.c.id.in_(list(world.disk_owner))))}
            stored_eips = {r.id: r for r in conn.execute(
                sa.select(addresses).where(addresses.c.id.in_(list(world.eip_owner))))}
        for iid, inst in world.insts.items():
            api_inst = found[iid]
            assert api_inst["InstanceState"] == inst.state == stored[iid].state, (iid, api_inst["InstanceState"], inst)
            assert api_inst["InstanceType"] == inst.itype == stored[iid].instance_type, (iid, api_inst["InstanceType"])
            if inst.state == lc.RUNNING:
                self._check_guest(iid, inst, api_inst["GuestAddress"])
        for disk, owner in world.disk_owner.items():
            api_disk = disks_now[disk]
            assert api_disk["DiskState"] == ("ATTACHED" if owner else "UNATTACHED"), (disk, owner, api_disk)
            assert (api_disk["InstanceId"] or None) == owner == stored_disks[disk].instance_id, (disk, owner)
        for eip, owner in world.eip_owner.items():
            api_eip = eips_now[eip]
            assert (api_eip["InstanceId"] or None) == owner == stored_eips[eip].instance_id, (eip, owner, api_eip)
            assert api_eip["AddressStatus"] == ("BIND" if owner else "UNBIND"), (eip, api_eip)

    def _check_guest(self, iid: str, inst: Inst, address: str) -> None:
        base = f"http://{address}"
        with httpx.Client(base_url=base, timeout=5) as guest:
            seen = guest.get("/").json()
            assert seen["InstanceId"] == iid
            assert seen["MemoryGiB"] == INSTANCE_TYPES[inst.itype].memory, (seen["MemoryGiB"], inst.itype)
            # A guest's disks are exactly its system disk and the elastic disks the store has attached to it.
            elastic = {d["DiskId"] for d in seen["Disks"] if not d["System"]}
            assert elastic == {d for d, o in self.world.disk_owner.items() if o == iid}, (iid, seen["Disks"])
            booted = seen["BootId"] != inst.boot_id
            if inst.boot_id and not inst.rebooted:
                assert not booted, f"{iid} booted again without being asked to"
            if inst.boot_id and inst.rebooted:
                assert booted, f"{iid} should have booted again"
            memory = guest.get("/mem/model")
            if booted:
                assert memory.status_code == 404, "memory survived a boot"
            else:
                assert memory.content == seen["BootId"].encode()
            assert guest.put("/mem/model", content=seen["BootId"].encode()).status_code == 204
            inst.boot_id, inst.rebooted = seen["BootId"], False
            # Data written to a disk and acknowledged is there, whichever instance the disk moved to.
            for disk, owner in self.world.disk_owner.items():
                if owner != iid:
                    continue
                if disk in self.world.disk_data:
                    got = guest.get("/disk/model", params={"disk": disk})
                    assert got.content == self.world.disk_data[disk], (disk, got.status_code, got.content)
                value = secrets.token_hex(8).encode()
                if guest.put("/disk/model", params={"disk": disk}, content=value).status_code == 204:
                    self.world.disk_data[disk] = value

    def teardown(self) -> None:
        live = self._live()
        for disk, owner in self.world.disk_owner.items():
            if owner is not None:
                self._call("cbs", "DetachDisks", DiskIds=[disk])
        for eip, owner in self.world.eip_owner.items():
            if owner is not None:
                self._call("vpc", "DisassociateAddress", AddressId=eip)
        if live:
            self._settle(live)
            self._call("cvm", "TerminateInstances", InstanceIds=live)
        self._settle([])
        self._call("cbs", "TerminateDisks", DiskIds=list(self.world.disk_owner))
        self._call("vpc", "ReleaseAddresses", AddressIds=list(self.world.eip_owner))
        totals = Lifecycle.totals
        for what, n in self.outcomes.items():
            totals[what] = totals.get(what, 0) + n

    totals: dict[str, int] = {}


def test_lifecycle_model(model_server: ServerProcess) -> None:
    Lifecycle.api = Api(model_server.endpoint, SECRET_ID, SECRET_KEY)
    Lifecycle.server = model_server
    Lifecycle.store = sa.create_engine(model_server.database_url or f"sqlite:///{model_server.data_dir / 'minicvm.db'}")
    Lifecycle.totals = {}
    case = Lifecycle.TestCase
    case.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
    seed(SEED)(case.runTest)
    try:
        case().runTest()
    finally:
        Lifecycle.store.dispose()
    print(f"lifecycle model: {EXAMPLES} sequences of up to {STEPS} steps: {dict(sorted(Lifecycle.totals.items()))}")
    # The sequences must have reached the interesting parts of the table, not only refusals.
    assert sum(n for what, n in Lifecycle.totals.items() if "refused" not in what) >= EXAMPLES * 2
