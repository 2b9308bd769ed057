"""The actions Tencent allows only while an instance is shut down — change type, grow disks, reset
password, bind or unbind keys — plus ModifyInstancesAttribute. Each is refused on a RUNNING instance unless ForceStop is set
(the lifecycle table says so), in which case minicvm stops it, applies the change and starts it again."""

from __future__ import annotations

from typing import Any

from minicvm import errors
from minicvm import ids as idmod
from minicvm.domain import lifecycle as lc
from minicvm.domain.passwords import hash_password, reset_password_problem
from minicvm.domain.steps import BindKeys, ChangeInstanceType, ResetPassword, UnbindKeys
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm import rules
from minicvm.services.cvm.backend import InstanceBackend
from minicvm.services.cvm.instances import instance_ids, run_batch
from minicvm.services.cvm.service import CVM
from minicvm.store.rows import Instance
from minicvm.timefmt import iso, now


@CVM.action("ResetInstancesType", m.ResetInstancesType)
async def reset_instances_type(ctx: Context, req: m.ResetInstancesType) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    if len(ids) != 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "ResetInstancesType takes exactly one instance.")
    target = rules.instance_type(req.InstanceType)
    system_types = {i: types[0] for i, types in InstanceBackend(ctx).disk_types(ids, "SYSTEM_DISK").items()}

    def check(row: Instance) -> lc.Refusal | None:
        refused = rules.type_change_refusal(row.instance_type, target, system_types.get(row.id),
                                            rules.stopped_without_charge(row))
        return lc.Refusal(row.id, refused.code, refused.message) if refused else None

    return run_batch(ctx, "ResetInstancesType", ids, params=ChangeInstanceType(target.name),
                     forced=bool(req.ForceStop), extra=check)


@CVM.action("ResizeInstanceDisks", m.ResizeInstanceDisks)
async def resize_instance_disks(ctx: Context, req: m.ResizeInstanceDisks) -> dict[str, Any]:
    instance_id, disk_id, size, field = growth_request(req)
    InstanceBackend(ctx).grow_disk(instance_id, disk_id, size, field, forced=bool(req.ForceStop),
                                   online=bool(req.ResizeOnline))
    return {}


def growth_request(req: m.ResizeInstanceDisks) -> tuple[str, str | None, int, str]:
    """ResizeInstanceDisks' (and its price inquiry's) request checked: the instance, the disk (None for the
    system disk), the new size and the field that gave it."""
    instance_id = instance_ids([req.InstanceId])[0]
    if not req.DataDisks and req.SystemDisk is None:
        raise errors.missing_one_of("DataDisks", "SystemDisk", code="MissingParameter.AtLeastOne")
    if req.DataDisks and req.SystemDisk is not None:
        raise ApiError("InvalidParameterCombination", "Give `DataDisks` or `SystemDisk`, not both.")
    if req.DataDisks and len(req.DataDisks) > 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "ResizeInstanceDisks grows one data disk per call.")
    if req.SystemDisk is not None:
        disk_id, size, field = None, req.SystemDisk.DiskSize, "SystemDisk.DiskSize"
    else:
        data = req.DataDisks[0]  # type: ignore[index]
        if not data.DiskId:
            raise errors.missing("DataDisks.0.DiskId")
        if not idmod.is_well_formed(data.DiskId, "disk"):
            raise ApiError("InvalidParameterValue", f"The disk id {data.DiskId!r} is malformed.")
        disk_id, size, field = data.DiskId, data.DiskSize, "DataDisks.0.DiskSize"
    if size is None:
        raise errors.missing(field)
    return instance_id, disk_id, size, field


@CVM.action("ResetInstancesPassword", m.ResetInstancesPassword)
async def reset_instances_password(ctx: Context, req: m.ResetInstancesPassword) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    problem = reset_password_problem(req.Password)
    if problem:
        raise ApiError("InvalidParameterValue.InvalidPassword", f"`Password` is invalid: {problem}.")
    if req.UserName is not None and not 1 <= len(req.UserName) <= 64:
        raise ApiError("InvalidParameterValue.TooLong", "`UserName` must be 1-64 characters.")
    change = ResetPassword(hash_password(req.Password), iso(now()), req.UserName or "root")
    return run_batch(ctx, "ResetInstancesPassword", ids, params=change, forced=bool(req.ForceStop))


def _key_ids(ctx: Context, values: list[str]) -> list[str]:
    key_ids = common.check_ids(values, "skey", "KeyIds", "InvalidKeyPairId.Malformed")
    InstanceBackend(ctx).check_key_pairs(key_ids)
    return key_ids


@CVM.action("AssociateInstancesKeyPairs", m.InstancesKeyPairs)
async def associate_key_pairs(ctx: Context, req: m.InstancesKeyPairs) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    keys = _key_ids(ctx, req.KeyIds)
    return run_batch(ctx, "AssociateInstancesKeyPairs", ids, params=BindKeys(tuple(keys)), forced=bool(req.ForceStop))


@CVM.action("DisassociateInstancesKeyPairs", m.InstancesKeyPairs)
async def disassociate_key_pairs(ctx: Context, req: m.InstancesKeyPairs) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    keys = _key_ids(ctx, req.KeyIds)
    return run_batch(ctx, "DisassociateInstancesKeyPairs", ids, params=UnbindKeys(tuple(keys)),
                     forced=bool(req.ForceStop))


_MODIFIABLE = ("InstanceName", "UserData", "SecurityGroups", "HostName", "DisableApiTermination")


@CVM.action("ModifyInstancesAttribute", m.ModifyInstancesAttribute)
async def modify_instances_attribute(ctx: Context, req: m.ModifyInstancesAttribute) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    for unsupported in ("CamRoleName", "CamRoleType", "EnableJumboFrame"):
        if getattr(req, unsupported) is not None:
            raise ApiError("UnsupportedOperation", f"`{unsupported}` is not supported by minicvm.")
    given = [f for f in _MODIFIABLE if getattr(req, f) is not None]
    if not given:
        raise errors.missing_one_of(*_MODIFIABLE)
    if len(given) > 1:
        raise ApiError("InvalidParameterCombination", f"Modify one attribute per request; got {', '.join(given)}.")
    if req.AutoReboot is not None and req.HostName is None:
        raise ApiError("InvalidParameterCombination", "`AutoReboot` goes only with `HostName`.")
    values: dict[str, Any] = {}
    if req.InstanceName is not None:
        if not req.InstanceName or len(req.InstanceName) > 60:
            raise ApiError("InvalidInstanceName.TooLong", "`InstanceName` must be 1-60 characters.")
        values["name"] = req.InstanceName
    if req.UserData is not None:
        rules.check_user_data(req.UserData)
        values["user_data"] = req.UserData
    if req.SecurityGroups is not None:
        values["security_group_ids"] = common.check_ids(req.SecurityGroups, "sg", "SecurityGroups",
                                                        "InvalidSgId.Malformed", limit=5)
    if req.DisableApiTermination is not None:
        values["disable_api_termination"] = req.DisableApiTermination
    if req.HostName is not None:
        rules.check_host_name(req.HostName)
        values["host_name"] = req.HostName
    # A new host name takes effect at boot: running instances reboot now (AutoReboot).
    InstanceBackend(ctx).modify_attributes(ids, given[0], values, reboot_running=req.HostName is not None
                                           and req.AutoReboot is not False)
    return {}
