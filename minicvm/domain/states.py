"""The values an instance's lifecycle is described in. Each is spelled here once; everything else uses
these enums (they are `str` subclasses, so they compare equal to the strings the store and the wire hold)."""

from __future__ import annotations

from enum import StrEnum


class InstanceState(StrEnum):
    PENDING = "PENDING"
    LAUNCH_FAILED = "LAUNCH_FAILED"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    STOPPING = "STOPPING"
    REBOOTING = "REBOOTING"
    SHUTDOWN = "SHUTDOWN"
    TERMINATING = "TERMINATING"
    # Never stored: a destroyed instance's row is deleted. It names that outcome in the lifecycle table and
    # in the events the console follows.
    TERMINATED = "TERMINATED"


# The states an instance row can be in.
STORED_STATES: tuple[InstanceState, ...] = tuple(s for s in InstanceState if s is not InstanceState.TERMINATED)

TRANSITIONAL = frozenset({InstanceState.PENDING, InstanceState.STARTING, InstanceState.STOPPING,
                          InstanceState.REBOOTING, InstanceState.TERMINATING})


class OperationState(StrEnum):
    OPERATING = "OPERATING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class StopType(StrEnum):
    """SOFT: the power button only. SOFT_FIRST: the power button, then the plug. HARD: the plug."""

    SOFT = "SOFT"
    HARD = "HARD"
    SOFT_FIRST = "SOFT_FIRST"


class StoppedMode(StrEnum):
    KEEP_CHARGING = "KEEP_CHARGING"
    STOP_CHARGING = "STOP_CHARGING"


class ChargeType(StrEnum):
    PREPAID = "PREPAID"
    POSTPAID_BY_HOUR = "POSTPAID_BY_HOUR"


DEFAULT_STOP_TYPE = StopType.SOFT
DEFAULT_STOPPED_MODE = StoppedMode.KEEP_CHARGING
# What a minicvm-initiated stop that must not fail uses (ForceStop, Auto Scaling, apply-while-stopped).
FORCED_STOP_TYPE = StopType.SOFT_FIRST
# DescribeInstances' StopChargingMode for an instance that is not STOPPED.
NOT_APPLICABLE = "NOT_APPLICABLE"


def stop_charging_mode(state: str, stopped_mode: str | None) -> str:
    """DescribeInstances' StopChargingMode: the mode a STOPPED instance was stopped in."""
    if state != InstanceState.STOPPED:
        return NOT_APPLICABLE
    return stopped_mode or DEFAULT_STOPPED_MODE
