"""The lifecycle table itself: every action against every state gives the documented answer, and the plan
every accepted action × state × parameters makes; steps survive their stored form."""

from __future__ import annotations

import typing

import orjson
import pytest

from minicvm.domain import lifecycle as lc
from minicvm.domain import steps as st
from minicvm.domain.states import STORED_STATES, ChargeType, InstanceState, StoppedMode, StopType

ALL_STATES = [lc.PENDING, lc.LAUNCH_FAILED, lc.RUNNING, lc.STOPPED, lc.STARTING, lc.STOPPING, lc.REBOOTING,
              lc.SHUTDOWN, lc.TERMINATING]

ACCEPTED = {
    "StartInstances": {lc.STOPPED},
    "StopInstances": {lc.RUNNING},
    "RebootInstances": {lc.RUNNING},
    "TerminateInstances": {lc.RUNNING, lc.STOPPED, lc.SHUTDOWN, lc.LAUNCH_FAILED},
    "ResetInstancesType": {lc.STOPPED},
    "ResizeInstanceDisks": {lc.STOPPED},
    "ResetInstancesPassword": {lc.STOPPED},
    "AssociateInstancesKeyPairs": {lc.STOPPED},
    "DisassociateInstancesKeyPairs": {lc.STOPPED},
    "ModifyInstancesAttribute": {lc.RUNNING, lc.STOPPED},
}


@pytest.mark.parametrize("action", sorted(ACCEPTED))
@pytest.mark.parametrize("state", ALL_STATES)
def test_each_state_is_accepted_or_refused_with_its_code(action: str, state: str) -> None:
    refusal = lc.refusal(action, "ins-abcdefgh", state, None)
    if state in ACCEPTED[action]:
        assert refusal is None
    elif state == lc.LAUNCH_FAILED:
        assert refusal is not None and refusal.code == "InvalidInstance.NotSupported"
    else:
        assert refusal is not None
        assert refusal.code == "UnsupportedOperation.InstanceState" + state.title().replace("_", "")
        assert state in refusal.reason


@pytest.mark.parametrize("action", ["ResetInstancesType", "ResizeInstanceDisks", "ResetInstancesPassword",
                                    "AssociateInstancesKeyPairs", "DisassociateInstancesKeyPairs"])
def test_force_stop_admits_running_instances(action: str) -> None:
    refused = lc.refusal(action, "ins-abcdefgh", lc.RUNNING, None)
    assert refused is not None and refused.code == "UnsupportedOperation.InstanceStateRunning"
    assert "ForceStop" in refused.reason
    assert lc.refusal(action, "ins-abcdefgh", lc.RUNNING, None, forced=True) is None


def test_operation_in_progress_blocks_stable_states() -> None:
    refused = lc.refusal("StartInstances", "ins-abcdefgh", lc.STOPPED, lc.OPERATING)
    assert refused is not None and refused.code == "OperationDenied.InstanceOperationInProgress"


def test_batch_message_names_every_refused_instance() -> None:
    refusals = [lc.refusal("StopInstances", "ins-aaaaaaaa", lc.STOPPED, None),
                lc.refusal("StopInstances", "ins-bbbbbbbb", lc.STARTING, None)]
    text = lc.batch_error_message("StopInstances", [r for r in refusals if r])
    assert "ins-aaaaaaaa" in text and "ins-bbbbbbbb" in text and "STARTING" in text and "STOPPED" in text


# ---- the plan: every action × every state × the parameters that change it -------------------------------

S = InstanceState
APPLY_CHANGES = {
    "ResetInstancesType": st.ChangeInstanceType("S5.LARGE8"),
    "ResizeInstanceDisks": st.GrowDisk("disk-abcdefgh", 100),
    "ResetInstancesPassword": st.ResetPassword("hash", "2024-01-01T00:00:00+00:00", "root"),
    "AssociateInstancesKeyPairs": st.BindKeys(("skey-abcdefgh",)),
    "DisassociateInstancesKeyPairs": st.UnbindKeys(("skey-abcdefgh",)),
}


def expected_plans(action: str, state: InstanceState, charge: ChargeType) -> list[tuple[lc.Params, list[st.Step]]]:
    """The readings, written out by hand: for an accepted (or ForceStop-accepted) state, each relevant set
    of parameters and the steps it must give."""
    if action == "StartInstances":
        return [(None, [st.PowerOn()])]
    if action == "StopInstances":
        return [(lc.StopRequest(t, m), [st.PowerOff(t, m)]) for t in StopType for m in StoppedMode] + [
            (None, [st.PowerOff(StopType.SOFT, StoppedMode.KEEP_CHARGING)])]
    if action == "RebootInstances":
        return [(lc.RebootRequest(t), [st.Reboot(t)]) for t in StopType] + [(None, [st.Reboot(StopType.SOFT)])]
    if action == "TerminateInstances":
        cases: list[tuple[lc.Params, list[st.Step]]] = []
        for release in (False, True):
            isolate = charge == ChargeType.PREPAID and state != S.SHUTDOWN
            cases.append((lc.TerminateRequest(release), [st.Isolate()] if isolate else [st.Destroy(release)]))
            cases.append((lc.TerminateRequest(release, recycle_prepaid=False), [st.Destroy(release)]))
        return cases
    if action in APPLY_CHANGES:
        change = APPLY_CHANGES[action]
        forced = [st.PowerOff(StopType.SOFT_FIRST, StoppedMode.KEEP_CHARGING), st.Apply(change), st.PowerOn()]
        cases = [(change, forced if state == S.RUNNING else [st.Apply(change)])]
        if action == "ResizeInstanceDisks":
            online = st.GrowDisk("disk-abcdefgh", 100, online=True)
            cases.append((online, [st.Apply(online)]))
        return cases
    if action == "ModifyInstancesAttribute":
        reboot = lc.RebootRequest(StopType.SOFT_FIRST)
        return [(None, []), (reboot, [st.Reboot(StopType.SOFT_FIRST)] if state == S.RUNNING else [])]
    return [(None, [])]  # disks and addresses: the operation runs on them, not on the instance


ACTIONS = [str(a) for a in lc.Action]


@pytest.mark.parametrize("charge", list(ChargeType))
@pytest.mark.parametrize("state", STORED_STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_plan_for_every_action_state_and_parameters(action: str, state: InstanceState, charge: ChargeType) -> None:
    if lc.refusal(action, "ins-abcdefgh", state, None, forced=True) is not None:
        return  # refused: no plan is ever made
    for params, steps in expected_plans(action, state, charge):
        assert lc.plan(action, lc.Facts(state, charge), params) == steps, params
        moved = lc.transition(action, lc.Facts(state, charge), params)
        # The transitional state is the first step's, the final one where the last step leaves the instance.
        assert moved.transitional == (steps[0].enters or state if steps else state)  # type: ignore[union-attr]
        assert moved.final == next((s.ends_in for s in reversed(steps) if s.ends_in), state)  # type: ignore[union-attr]


def test_the_readings_of_transitional_and_final_states() -> None:
    def states(action: str, state: str, charge: str = ChargeType.POSTPAID_BY_HOUR, params: lc.Params = None
               ) -> tuple[str, str]:
        moved = lc.transition(action, lc.Facts(state, charge), params)
        return moved.transitional, moved.final

    assert states("StartInstances", S.STOPPED) == (S.STARTING, S.RUNNING)
    assert states("StopInstances", S.RUNNING) == (S.STOPPING, S.STOPPED)
    assert states("RebootInstances", S.RUNNING) == (S.REBOOTING, S.RUNNING)
    assert states("TerminateInstances", S.RUNNING) == (S.TERMINATING, S.TERMINATED)
    # A prepaid instance's first TerminateInstances goes TERMINATING into the recycle bin; the second destroys.
    assert states("TerminateInstances", S.RUNNING, ChargeType.PREPAID) == (S.TERMINATING, S.SHUTDOWN)
    assert states("TerminateInstances", S.SHUTDOWN, ChargeType.PREPAID) == (S.TERMINATING, S.TERMINATED)
    assert states("ResetInstancesType", S.STOPPED, params=APPLY_CHANGES["ResetInstancesType"]) == (S.STOPPED, S.STOPPED)
    assert states("ResetInstancesType", S.RUNNING, params=APPLY_CHANGES["ResetInstancesType"]) == (S.STOPPING, S.RUNNING)


def test_a_plan_refuses_parameters_of_another_action() -> None:
    with pytest.raises(TypeError):
        lc.plan("StopInstances", lc.Facts(S.RUNNING), lc.RebootRequest())
    with pytest.raises(TypeError):
        lc.plan("ResetInstancesType", lc.Facts(S.STOPPED), st.BindKeys(()))


EVERY_STEP: list[st.Step] = [
    st.Launch(), st.PowerOn(), st.PowerOff(StopType.HARD, StoppedMode.STOP_CHARGING), st.Reboot(StopType.SOFT_FIRST),
    *[st.Apply(c) for c in APPLY_CHANGES.values()], st.Apply(st.GrowDisk(None, 50, online=True)),
    st.Isolate(), st.Destroy(True), st.CreateDisk(20), st.DeleteDisk(), st.AttachDisk("ins-abcdefgh"), st.DetachDisk(),
    st.ExpandDisk(200),
    st.CreateAddress(), st.BindAddress(), st.UnbindAddress(True), st.ReleaseAddress(),
]


def test_every_step_type_is_covered_here() -> None:
    kinds = {type(s) for s in EVERY_STEP} | {type(s.change) for s in EVERY_STEP if isinstance(s, st.Apply)}
    assert kinds == set(typing.get_args(st.Step)) | set(typing.get_args(st.Change))


@pytest.mark.parametrize("step", EVERY_STEP, ids=lambda s: type(s).__name__)
def test_steps_are_stored_as_tagged_json_and_read_back_equal(step: st.Step) -> None:
    stored = orjson.loads(orjson.dumps(st.encode_steps([step])))  # what the JSON column gives back
    assert stored[0]["step"] == type(step).__name__
    assert st.decode_steps(stored) == [step]


def test_a_stored_step_of_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError):
        st.decode_step({"step": "Teleport"})
