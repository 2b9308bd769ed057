"""THE lifecycle table. For every instance action: which states it accepts (with and without ForceStop),
the exact refusal for every other state, and the plan — the steps that carry the action out. The state an
instance enters at once is the first step's, the state it ends in is where the last step leaves it, so the
table, the runner and the console cannot disagree: the runner runs the plan, and the console is served
`table()` (see console/routes.py) rather than keeping a copy.

The API, the console and Auto Scaling all ask `refusal()`; nothing else decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from minicvm.domain.catalog import CLOUD_DISK_TYPES
from minicvm.domain.states import (
    DEFAULT_STOP_TYPE,
    DEFAULT_STOPPED_MODE,
    FORCED_STOP_TYPE,
    STORED_STATES,
    ChargeType,
    InstanceState,
    OperationState,
    StoppedMode,
    StopType,
)
from minicvm.domain.steps import (
    Apply,
    BindKeys,
    Change,
    ChangeInstanceType,
    Destroy,
    GrowDisk,
    Isolate,
    PowerOff,
    PowerOn,
    Reboot,
    ResetPassword,
    Step,
    UnbindKeys,
    final_state,
    transitional_state,
)

# Shorthands, kept because many modules compare stored strings against them.
PENDING = InstanceState.PENDING
LAUNCH_FAILED = InstanceState.LAUNCH_FAILED
RUNNING = InstanceState.RUNNING
STOPPED = InstanceState.STOPPED
STARTING = InstanceState.STARTING
STOPPING = InstanceState.STOPPING
REBOOTING = InstanceState.REBOOTING
SHUTDOWN = InstanceState.SHUTDOWN
TERMINATING = InstanceState.TERMINATING
OPERATING = OperationState.OPERATING
SUCCESS = OperationState.SUCCESS
FAILED = OperationState.FAILED

# Words a person reads in an error message or a console tooltip.
STATE_WORDS: dict[str, str] = {
    PENDING: "is still being created (PENDING)",
    LAUNCH_FAILED: "failed to launch (LAUNCH_FAILED)",
    RUNNING: "is running (RUNNING)",
    STOPPED: "is shut down (STOPPED)",
    STARTING: "is starting (STARTING)",
    STOPPING: "is shutting down (STOPPING)",
    REBOOTING: "is rebooting (REBOOTING)",
    SHUTDOWN: "is isolated in the recycle bin (SHUTDOWN)",
    TERMINATING: "is being terminated (TERMINATING)",
}


class Action(StrEnum):
    """The instance actions the table governs, named as on the wire."""

    START = "StartInstances"
    STOP = "StopInstances"
    REBOOT = "RebootInstances"
    TERMINATE = "TerminateInstances"
    RESET_TYPE = "ResetInstancesType"
    RESIZE_DISKS = "ResizeInstanceDisks"
    RESET_PASSWORD = "ResetInstancesPassword"
    BIND_KEYS = "AssociateInstancesKeyPairs"
    UNBIND_KEYS = "DisassociateInstancesKeyPairs"
    MODIFY_ATTRIBUTE = "ModifyInstancesAttribute"
    ATTACH_DISKS = "AttachDisks"
    DETACH_DISKS = "DetachDisks"
    ASSOCIATE_ADDRESS = "AssociateAddress"
    DISASSOCIATE_ADDRESS = "DisassociateAddress"
    ASSOCIATE_SECURITY_GROUPS = "AssociateSecurityGroups"
    DISASSOCIATE_SECURITY_GROUPS = "DisassociateSecurityGroups"


def state_code(state: str) -> str:
    """`UnsupportedOperation.InstanceState<State>`, named after the current state."""
    camel = "".join(part.capitalize() for part in state.split("_"))
    return f"UnsupportedOperation.InstanceState{camel}"


# ---- what a caller asks for, typed -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StopRequest:
    stop_type: StopType = DEFAULT_STOP_TYPE
    stopped_mode: StoppedMode = DEFAULT_STOPPED_MODE


@dataclass(frozen=True, slots=True)
class RebootRequest:
    stop_type: StopType = DEFAULT_STOP_TYPE


@dataclass(frozen=True, slots=True)
class TerminateRequest:
    release_address: bool = False
    # Auto Scaling destroys the instances it removes at once; only a caller's TerminateInstances puts a
    # prepaid instance in the recycle bin first.
    recycle_prepaid: bool = True


Params = StopRequest | RebootRequest | TerminateRequest | Change | None


class InstanceFacts(Protocol):
    """What a plan looks at: an instance row, or anything with these attributes."""

    @property
    def state(self) -> str: ...

    @property
    def charge_type(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Facts:
    state: str
    charge_type: str = ChargeType.POSTPAID_BY_HOUR


# ---- the plans -------------------------------------------------------------------------------------

Plan = Callable[[InstanceFacts, Any], list[Step]]


def _expect(params: Any, kind: type) -> Any:
    if not isinstance(params, kind):
        raise TypeError(f"expected {kind.__name__}, got {params!r}")
    return params


def _start(_inst: InstanceFacts, _params: Any) -> list[Step]:
    return [PowerOn()]


def _stop(_inst: InstanceFacts, params: Any) -> list[Step]:
    req: StopRequest = _expect(params or StopRequest(), StopRequest)
    return [PowerOff(req.stop_type, req.stopped_mode)]


def _reboot(_inst: InstanceFacts, params: Any) -> list[Step]:
    req: RebootRequest = _expect(params or RebootRequest(), RebootRequest)
    return [Reboot(req.stop_type)]


def _terminate(inst: InstanceFacts, params: Any) -> list[Step]:
    req: TerminateRequest = _expect(params or TerminateRequest(), TerminateRequest)
    # A prepaid instance goes to the recycle bin (SHUTDOWN) first; the second call destroys it.
    if req.recycle_prepaid and inst.charge_type == ChargeType.PREPAID and inst.state != SHUTDOWN:
        return [Isolate()]
    return [Destroy(req.release_address)]


def _apply_while_stopped(change_type: type) -> Plan:
    def plan(inst: InstanceFacts, params: Any) -> list[Step]:
        change: Change = _expect(params, change_type)
        if inst.state == RUNNING and not (isinstance(change, GrowDisk) and change.online):
            # ForceStop: stopped soft-then-hard, changed, and started again — documented for the key-pair
            # actions, and minicvm does the same for the others.
            return [PowerOff(FORCED_STOP_TYPE, DEFAULT_STOPPED_MODE), Apply(change), PowerOn()]
        return [Apply(change)]
    return plan


def _modify_attribute(inst: InstanceFacts, params: Any) -> list[Step]:
    # The attributes are written when the request is accepted; only a new host name needs a running guest
    # rebooted (AutoReboot) to take effect.
    if params is None or inst.state != RUNNING:
        return []
    req: RebootRequest = _expect(params, RebootRequest)
    return [Reboot(req.stop_type)]


def _no_instance_steps(_inst: InstanceFacts, _params: Any) -> list[Step]:
    # The operation runs on the disk or the address; the instance's state does not change.
    return []


@dataclass(frozen=True)
class Rule:
    accepts: frozenset[InstanceState]
    plan: Plan
    # The parameters the served table is computed with (of a change, only its kind matters).
    default: Params = None
    # States accepted only when the caller passes ForceStop (the service stops the instance first).
    accepts_forced: frozenset[InstanceState] = frozenset()
    needs: str = "RUNNING"  # what a person is told the action needs
    force_hint: str = ""


_STOPPED_ONLY = frozenset({STOPPED})
_RUNNING_OR_STOPPED = frozenset({RUNNING, STOPPED})
_APPLY_HINT = "; pass ForceStop=true to shut it down first"


def _apply_rule(change: Change, hint: str = _APPLY_HINT) -> Rule:
    return Rule(_STOPPED_ONLY, _apply_while_stopped(type(change)), default=change, accepts_forced=frozenset({RUNNING}),
                needs="STOPPED", force_hint=hint)


RULES: dict[Action, Rule] = {
    Action.START: Rule(_STOPPED_ONLY, _start, needs="STOPPED"),
    Action.STOP: Rule(frozenset({RUNNING}), _stop, default=StopRequest()),
    Action.REBOOT: Rule(frozenset({RUNNING}), _reboot, default=RebootRequest()),
    Action.TERMINATE: Rule(frozenset({RUNNING, STOPPED, SHUTDOWN, LAUNCH_FAILED}), _terminate,
                           default=TerminateRequest(), needs="RUNNING, STOPPED or SHUTDOWN"),
    Action.RESET_TYPE: _apply_rule(ChangeInstanceType("")),
    Action.RESIZE_DISKS: _apply_rule(GrowDisk(None, 0), "; pass ForceStop=true or ResizeOnline=true"),
    Action.RESET_PASSWORD: _apply_rule(ResetPassword("", "", "")),
    Action.BIND_KEYS: _apply_rule(BindKeys(())),
    Action.UNBIND_KEYS: _apply_rule(UnbindKeys(())),
    Action.MODIFY_ATTRIBUTE: Rule(_RUNNING_OR_STOPPED, _modify_attribute, needs="RUNNING or STOPPED"),
    # Disk attach/detach (CBS) and EIP binding (VPC) accept a running or stopped instance.
    Action.ATTACH_DISKS: Rule(_RUNNING_OR_STOPPED, _no_instance_steps, needs="RUNNING or STOPPED"),
    Action.DETACH_DISKS: Rule(_RUNNING_OR_STOPPED, _no_instance_steps, needs="RUNNING or STOPPED"),
    Action.ASSOCIATE_ADDRESS: Rule(_RUNNING_OR_STOPPED, _no_instance_steps, needs="RUNNING or STOPPED"),
    Action.DISASSOCIATE_ADDRESS: Rule(_RUNNING_OR_STOPPED, _no_instance_steps, needs="RUNNING or STOPPED"),
    # Binding security groups changes what the guest admits, not the guest: running or stopped.
    Action.ASSOCIATE_SECURITY_GROUPS: Rule(_RUNNING_OR_STOPPED, _no_instance_steps, needs="RUNNING or STOPPED"),
    Action.DISASSOCIATE_SECURITY_GROUPS: Rule(_RUNNING_OR_STOPPED, _no_instance_steps, needs="RUNNING or STOPPED"),
}


# The same rules by plain name: the API looks them up for every instance of every request.
_BY_NAME: dict[str, Rule] = {action.value: rule for action, rule in RULES.items()}


def plan(action: str, instance: InstanceFacts, params: Params = None) -> list[Step]:
    """The steps that carry out `action` on `instance` (which the table accepted for it)."""
    return _BY_NAME[action].plan(instance, params)


@dataclass(frozen=True)
class Transition:
    steps: list[Step]
    transitional: str  # entered at once, when the action is accepted
    final: str  # where the instance ends when every step succeeded (TERMINATED: it is gone)


def transition(action: str, instance: InstanceFacts, params: Params = None) -> Transition:
    steps = plan(action, instance, params)
    return Transition(steps, transitional_state(steps, instance.state), final_state(steps, instance.state))


# ---- refusals ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    instance_id: str
    code: str
    reason: str

    def line(self) -> str:
        return f"{self.instance_id}: {self.reason} [{self.code}]"


def refusal(action: str, instance_id: str, state: str, operation_state: str | None, forced: bool = False
            ) -> Refusal | None:
    """Why `action` may not run on this instance now, or None if it may."""
    rule = _BY_NAME[action]
    if state in rule.accepts or (forced and state in rule.accepts_forced):
        if operation_state == OPERATING:
            return Refusal(
                instance_id,
                "OperationDenied.InstanceOperationInProgress",
                "another operation on the instance is still in progress",
            )
        return None
    if state == LAUNCH_FAILED:
        return Refusal(instance_id, "InvalidInstance.NotSupported", f"the instance {STATE_WORDS[LAUNCH_FAILED]}")
    hint = rule.force_hint if state in rule.accepts_forced else ""
    return Refusal(
        instance_id,
        state_code(state),
        f"the instance {STATE_WORDS.get(state, state)}; {action} needs {rule.needs}{hint}",
    )


def batch_error_message(action: str, refusals: list[Refusal]) -> str:
    lines = "; ".join(r.line() for r in refusals)
    return f"{action} was not carried out for any instance, because {len(refusals)} cannot take it: {lines}"


def stop_charging_refusal(instance_id: str, charge_type: str, disk_types: list[str]) -> Refusal | None:
    """STOP_CHARGING is for pay-as-you-go instances whose disks are all cloud disks. The API, Auto Scaling
    and the console all ask this."""
    if charge_type != ChargeType.POSTPAID_BY_HOUR:
        return Refusal(instance_id, "UnsupportedOperation.StoppedModeStopCharging",
                       f"STOP_CHARGING needs a pay-as-you-go instance; this one is {charge_type}")
    local = sorted({t for t in disk_types if t and t not in CLOUD_DISK_TYPES})
    if local:
        return Refusal(instance_id, "UnsupportedOperation.StoppedModeStopCharging",
                       f"STOP_CHARGING needs cloud disks only; this instance has {', '.join(local)}")
    return None


# ---- the table as the console is served it -----------------------------------------------------------


def table() -> dict[str, Any]:
    """Every action × stored state × charge type: accepted or the refusal, and with the default parameters
    the steps, the transitional and the final state. JSON-ready."""
    actions: dict[str, Any] = {}
    for action, rule in RULES.items():
        by_state: dict[str, Any] = {}
        for state in STORED_STATES:
            refused = refusal(action, "", state, None)
            forced = refusal(action, "", state, None, forced=True) if refused else None
            entry: dict[str, Any] = {
                "Allowed": refused is None, "ForceStopAllowed": refused is not None and forced is None,
                "Code": refused.code if refused else None, "Reason": refused.reason if refused else None,
            }
            if refused is None or forced is None:
                entry["Outcomes"] = {}
                for charge in ChargeType:
                    moved = transition(action, Facts(state, charge), rule.default)
                    entry["Outcomes"][charge] = {"Steps": [type(s).__name__ for s in moved.steps],
                                                 "Transitional": moved.transitional, "Final": moved.final}
            by_state[state] = entry
        actions[action] = {"Needs": rule.needs, "ByState": by_state}
    return {"States": list(STORED_STATES), "Actions": actions}
