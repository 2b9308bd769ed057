"""CVM parameter rules that several actions share (names, host names, user data, stop modes)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from minicvm.domain.catalog import FAMILIES, INSTANCE_TYPES, InstanceType
from minicvm.domain.states import DEFAULT_STOP_TYPE, FORCED_STOP_TYPE, InstanceState, StoppedMode, StopType
from minicvm.errors import ApiError
from minicvm.services.cvm.backend import RESIZABLE_SYSTEM_TYPES
from minicvm.store.rows import Instance

_HOST_SEGMENT = re.compile(r"^[A-Za-z0-9-]+$")
_TYPE_SHAPE = re.compile(r"^[A-Z0-9]+\.[A-Z0-9]+$")


def check_user_data(user_data: str | None, code: str = "InvalidParameterValue.InvalidUserDataFormat") -> None:
    if user_data is None:
        return
    if len(user_data) > 16 * 1024:
        raise ApiError(code, "`UserData` must be at most 16 KB of base64.")
    try:
        base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(code, "`UserData` is not valid base64.") from None


def check_host_name(name: str) -> None:
    bad = ApiError("InvalidParameterValue.IllegalHostName",
                   f"The host name {name!r} is invalid: 2-60 characters, dot-separated segments of letters, "
                   "digits and '-', with no '.' or '-' at either end or doubled.")
    if not 2 <= len(name) <= 60 or name[0] in ".-" or name[-1] in ".-" or ".." in name or "--" in name:
        raise bad
    if not all(_HOST_SEGMENT.match(seg) for seg in name.split(".")):
        raise bad


def instance_type(name: str) -> InstanceType:
    if not _TYPE_SHAPE.match(name):
        raise ApiError("InvalidInstanceType.Malformed", f"The instance type {name!r} is malformed (e.g. S5.MEDIUM4).")
    itype = INSTANCE_TYPES.get(name)
    if itype is None:
        raise ApiError("InvalidParameterValue.InstanceTypeNotFound",
                       f"The instance type {name} does not exist; see DescribeInstanceTypeConfigs.")
    return itype




@dataclass(frozen=True)
class TypeChangeRefusal:
    code: str
    message: str


def type_change_refusal(current: str, target: InstanceType, system_disk_type: str | None,
                        stopped_without_charge: bool) -> TypeChangeRefusal | None:
    """Whether an instance of type `current` may change to `target`: the one rule ResetInstancesType enforces,
    DescribeInstancesModification lists and InquiryPriceResetInstancesType prices."""
    if current == target.name:
        return TypeChangeRefusal("InvalidParameterValue", f"the instance already is {target.name}")
    if system_disk_type not in RESIZABLE_SYSTEM_TYPES:
        return TypeChangeRefusal("UnsupportedOperation.SystemDiskType",
                                 f"the type of an instance with a {system_disk_type} system disk cannot change")
    family = current.split(".")[0]
    if family in FAMILIES and FAMILIES[family].vendor != FAMILIES[target.family].vendor:
        return TypeChangeRefusal("UnsupportedOperation.UnsupportedChangeInstanceFamily",
                                 f"The instance does not support tuning to {target.family} instance family.")
    if stopped_without_charge and family == target.family:
        return TypeChangeRefusal("UnsupportedOperation.StoppedModeStopChargingSameFamily",
                                 "an instance stopped with STOP_CHARGING cannot change type within its family")
    return None


def stopped_without_charge(row: Instance) -> bool:
    return row.state == InstanceState.STOPPED and row.stopped_mode == StoppedMode.STOP_CHARGING


def stop_type(stop: StopType | None, force: bool | None, force_name: str = "ForceStop") -> StopType:
    """StopType has its default; the deprecated ForceStop/ForceReboot means SOFT_FIRST and may not be
    combined with StopType."""
    if stop is not None and force is not None:
        raise ApiError("InvalidParameterCombination", f"`{force_name}` is deprecated and cannot be combined with `StopType`.")
    if stop is None:
        return FORCED_STOP_TYPE if force else DEFAULT_STOP_TYPE
    return stop

