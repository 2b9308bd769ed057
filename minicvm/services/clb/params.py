"""CLB request parameters checked once, before anything is looked up: ids, names, schedulers, session
persistence, rule addresses and target lists."""

from __future__ import annotations

from minicvm import errors
from minicvm import ids as idmod
from minicvm.errors import ApiError
from minicvm.services.clb import models as m
from minicvm.services.clb.backend import RuleRef, TargetSpec

MAX_TARGETS = 20


def lb_id(value: str) -> str:
    if not idmod.is_well_formed(value, "lb"):
        raise ApiError("InvalidParameter.FormatError", f"The load balancer id {value!r} is malformed.")
    return value


def listener_id(value: str) -> str:
    if not idmod.is_well_formed(value, "lbl"):
        raise ApiError("InvalidParameter.FormatError", f"The listener id {value!r} is malformed.")
    return value


def scheduler(value: str | None, allowed: tuple[str, ...]) -> str:
    chosen = value or "WRR"
    if chosen not in allowed:
        raise ApiError("InvalidParameterValue", f"`Scheduler` must be one of {', '.join(allowed)} here.")
    return chosen


def session(value: int | None, high: int = 3600) -> int:
    if value is None or value == 0:
        return 0
    if not 30 <= value <= high:
        raise ApiError("InvalidParameterValue.Range", f"`SessionExpireTime` is 0 (off) or 30-{high}.")
    return value


def listener_name(value: str) -> str:
    if not 1 <= len(value) <= 80:
        raise ApiError("InvalidParameterValue.Length", "Listener names are 1-80 characters.")
    return value


def url(value: str) -> str:
    if not 1 <= len(value) <= 200 or not value.startswith("/"):
        raise ApiError("InvalidParameterValue.Length", "`Url` must start with '/' and be 1-200 characters.")
    return value


def domain(value: str | None) -> str:
    if value is None:
        return ""  # the default domain: any Host
    if not 1 <= len(value) <= 80:
        raise ApiError("InvalidParameterValue.Length", "`Domain` must be 1-80 characters.")
    return value.lower()


def target_rule(req: m.Targets) -> RuleRef:
    return RuleRef(req.LocationId, req.Domain.lower() if req.Domain else None, req.Url)


def targets(req: m.Targets) -> list[TargetSpec]:
    if not req.Targets:
        raise errors.missing("Targets")
    if len(req.Targets) > MAX_TARGETS:
        raise ApiError("LimitExceeded", f"At most {MAX_TARGETS} targets per request.")
    result = []
    for i, target in enumerate(req.Targets):
        if target.EniIp is not None:
            raise ApiError("InvalidParameter", "minicvm targets are instances: give `InstanceId`, not `EniIp`.")
        if target.InstanceId is None:
            raise errors.missing(f"Targets.{i}.InstanceId")
        if target.Port is None:
            raise errors.missing(f"Targets.{i}.Port")
        if not idmod.is_well_formed(target.InstanceId, "ins"):
            raise ApiError("InvalidParameter.FormatError", f"The instance id {target.InstanceId!r} is malformed.")
        if not 1 <= target.Port <= 65535:
            raise ApiError("InvalidParameterValue.Range", f"`Targets.{i}.Port` must be 1-65535.")
        if target.Weight is not None and not 0 <= target.Weight <= 100:
            raise ApiError("InvalidParameterValue.Range", f"`Targets.{i}.Weight` must be 0-100.")
        result.append(TargetSpec(target.InstanceId, target.Port, target.Weight))
    pairs = [(t.instance_id, t.port) for t in result]
    if len(set(pairs)) != len(pairs):
        raise ApiError("InvalidParameterValue.Duplicate", "The same instance and port appear twice in `Targets`.")
    return result
