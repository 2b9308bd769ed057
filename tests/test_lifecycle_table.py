"""The lifecycle table itself: every action against every state gives the documented answer."""

from __future__ import annotations

import pytest

from minicvm.domain import lifecycle as lc

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
