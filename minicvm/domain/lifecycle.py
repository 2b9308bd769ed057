"""THE lifecycle table: for every instance action, which states it accepts, the state it moves the
instance to at once, the state it ends in, and the exact refusal for every other state.

The API, the console and the auto-scaling reconciler all ask `refusal()`; nothing else decides.
"""

from __future__ import annotations

from dataclasses import dataclass

PENDING = "PENDING"
LAUNCH_FAILED = "LAUNCH_FAILED"
RUNNING = "RUNNING"
STOPPED = "STOPPED"
STARTING = "STARTING"
STOPPING = "STOPPING"
REBOOTING = "REBOOTING"
SHUTDOWN = "SHUTDOWN"
TERMINATING = "TERMINATING"

TRANSITIONAL = frozenset({PENDING, STARTING, STOPPING, REBOOTING, TERMINATING})

# Words a person reads in an error message or a console tooltip.
STATE_WORDS = {
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

OPERATING = "OPERATING"
SUCCESS = "SUCCESS"
FAILED = "FAILED"


def state_code(state: str) -> str:
    """`UnsupportedOperation.InstanceState<State>`, named after the current state."""
    camel = "".join(part.capitalize() for part in state.split("_"))
    return f"UnsupportedOperation.InstanceState{camel}"


@dataclass(frozen=True)
class Rule:
    accepts: frozenset[str]
    # States accepted only when the caller passes ForceStop (the service stops the instance first).
    accepts_forced: frozenset[str] = frozenset()
    # State entered at once when accepted from RUNNING/STOPPED; None keeps the state.
    transitional: str | None = None
    # Final state; None = gone (terminate) or "back to the state it was in" (apply-while-stopped).
    final: str | None = None
    needs: str = "RUNNING"  # what a person is told the action needs
    force_hint: str = ""


_STOPPED_ONLY = frozenset({STOPPED})
_APPLY_HINT = "; pass ForceStop=true to shut it down first"

RULES: dict[str, Rule] = {
    "StartInstances": Rule(frozenset({STOPPED}), transitional=STARTING, final=RUNNING, needs="STOPPED"),
    "StopInstances": Rule(frozenset({RUNNING}), transitional=STOPPING, final=STOPPED),
    "RebootInstances": Rule(frozenset({RUNNING}), transitional=REBOOTING, final=RUNNING),
    "TerminateInstances": Rule(
        frozenset({RUNNING, STOPPED, SHUTDOWN, LAUNCH_FAILED}),
        transitional=TERMINATING,
        needs="RUNNING, STOPPED or SHUTDOWN",
    ),
    "ResetInstancesType": Rule(
        _STOPPED_ONLY, accepts_forced=frozenset({RUNNING}), needs="STOPPED", force_hint=_APPLY_HINT
    ),
    "ResizeInstanceDisks": Rule(
        _STOPPED_ONLY,
        accepts_forced=frozenset({RUNNING}),
        needs="STOPPED",
        force_hint="; pass ForceStop=true or ResizeOnline=true",
    ),
    "ResetInstancesPassword": Rule(
        _STOPPED_ONLY, accepts_forced=frozenset({RUNNING}), needs="STOPPED", force_hint=_APPLY_HINT
    ),
    "AssociateInstancesKeyPairs": Rule(
        _STOPPED_ONLY, accepts_forced=frozenset({RUNNING}), needs="STOPPED", force_hint=_APPLY_HINT
    ),
    "DisassociateInstancesKeyPairs": Rule(
        _STOPPED_ONLY, accepts_forced=frozenset({RUNNING}), needs="STOPPED", force_hint=_APPLY_HINT
    ),
    "ModifyInstancesAttribute": Rule(frozenset({RUNNING, STOPPED}), needs="RUNNING or STOPPED"),
    # Disk attach/detach (CBS) and EIP binding (VPC) accept a running or stopped instance.
    "AttachDisks": Rule(frozenset({RUNNING, STOPPED}), needs="RUNNING or STOPPED"),
    "DetachDisks": Rule(frozenset({RUNNING, STOPPED}), needs="RUNNING or STOPPED"),
    "AssociateAddress": Rule(frozenset({RUNNING, STOPPED}), needs="RUNNING or STOPPED"),
    "DisassociateAddress": Rule(frozenset({RUNNING, STOPPED}), needs="RUNNING or STOPPED"),
}


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
    rule = RULES[action]
    if state in rule.accepts or (forced and state in rule.accepts_forced):
        if operation_state == OPERATING:
            return Refusal(
                instance_id,
                "OperationDenied.InstanceOperationInProgress",
                "another operation on the instance is still in progress",
            )
        return None
    if state == LAUNCH_FAILED:
        return Refusal(instance_id, "InvalidInstance.NotSupported", f"the instance {STATE_WORDS[state]}")
    hint = rule.force_hint if state in rule.accepts_forced else ""
    return Refusal(
        instance_id,
        state_code(state),
        f"the instance {STATE_WORDS.get(state, state)}; {action} needs {rule.needs}{hint}",
    )


def batch_error_message(action: str, refusals: list[Refusal]) -> str:
    lines = "; ".join(r.line() for r in refusals)
    return f"{action} was not carried out for any instance, because {len(refusals)} cannot take it: {lines}"
