"""The actions Tencent allows only while an instance is shut down — change type, grow disks, reset
password, bind or unbind keys — plus ModifyInstancesAttribute. Each is refused on a RUNNING instance unless ForceStop is set
(the lifecycle table says so), in which case minicvm stops it, applies the change and starts it again."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import lifecycle as lc
from minicvm.domain.catalog import DATA_DISK_RANGE, DISK_STEP, SYSTEM_DISK_RANGE
from minicvm.domain.passwords import hash_password, reset_password_problem
from minicvm.domain.states import FORCED_STOP_TYPE, StoppedMode
from minicvm.domain.steps import BindKeys, ChangeInstanceType, GrowDisk, ResetPassword, UnbindKeys
from minicvm.engine import operations as ops
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm import rules
from minicvm.services.cvm.instances import instance_ids, run_batch
from minicvm.services.cvm.service import CVM
from minicvm.store.tables import disks, instances, key_pairs
from minicvm.timefmt import iso, now

RESIZABLE_SYSTEM_TYPES = ("CLOUD_BASIC", "CLOUD_PREMIUM", "CLOUD_SSD", "CLOUD_BSSD")


@CVM.action("ResetInstancesType", m.ResetInstancesType)
async def reset_instances_type(ctx: Context, req: m.ResetInstancesType) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    if len(ids) != 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "ResetInstancesType takes exactly one instance.")
    target = rules.instance_type(req.InstanceType)
    with ctx.cloud.store.read() as conn:
        system_types = {r.instance_id: r.disk_type for r in conn.execute(
            sa.select(disks.c.instance_id, disks.c.disk_type).where(
                disks.c.instance_id.in_(ids), disks.c.usage == "SYSTEM_DISK"))}

    def check(row: Any) -> lc.Refusal | None:
        if row.instance_type == target.name:
            return lc.Refusal(row.id, "InvalidParameterValue", f"the instance already is {target.name}")
        if system_types.get(row.id) not in RESIZABLE_SYSTEM_TYPES:
            return lc.Refusal(row.id, "UnsupportedOperation.SystemDiskType",
                              f"the type of an instance with a {system_types.get(row.id)} system disk cannot change")
        family = row.instance_type.split(".")[0]
        if row.state == lc.STOPPED and row.stopped_mode == StoppedMode.STOP_CHARGING and family == target.family:
            return lc.Refusal(row.id, "UnsupportedOperation.StoppedModeStopChargingSameFamily",
                              "an instance stopped with STOP_CHARGING cannot change type within its family")
        return None

    return run_batch(ctx, "ResetInstancesType", ids, params=ChangeInstanceType(target.name),
                     forced=bool(req.ForceStop), extra=check)


@CVM.action("ResizeInstanceDisks", m.ResizeInstanceDisks)
async def resize_instance_disks(ctx: Context, req: m.ResizeInstanceDisks) -> dict[str, Any]:
    instance_id = instance_ids([req.InstanceId])[0]
    if not req.DataDisks and req.SystemDisk is None:
        raise ApiError("MissingParameter.AtLeastOne", "Give one of `DataDisks` or `SystemDisk`.")
    if req.DataDisks and req.SystemDisk is not None:
        raise ApiError("InvalidParameterCombination", "Give `DataDisks` or `SystemDisk`, not both.")
    if req.DataDisks and len(req.DataDisks) > 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "ResizeInstanceDisks grows one data disk per call.")
    with ctx.cloud.store.write() as conn:
        own = {r.id: r for r in conn.execute(sa.select(disks).where(disks.c.instance_id == instance_id,
                                                                     disks.c.account_id == ctx.account.id))}
        if req.SystemDisk is not None:
            disk = next((d for d in own.values() if d.usage == "SYSTEM_DISK"), None)
            size, (lo, hi), step, where = req.SystemDisk.DiskSize, SYSTEM_DISK_RANGE, 1, "SystemDisk.DiskSize"
            if disk is not None and disk.disk_type not in RESIZABLE_SYSTEM_TYPES:
                raise ApiError("UnsupportedOperation.InvalidDisk", f"A {disk.disk_type} system disk cannot be resized.")
        else:
            data = req.DataDisks[0]  # type: ignore[index]
            if not data.DiskId:
                raise ApiError("MissingParameter", "The request is missing a required parameter `DataDisks.0.DiskId`.")
            if not idmod.is_well_formed(data.DiskId, "disk"):
                raise ApiError("InvalidParameterValue", f"The disk id {data.DiskId!r} is malformed.")
            disk = own.get(data.DiskId)
            if disk is not None and (disk.portable or disk.usage != "DATA_DISK"):
                raise ApiError("UnsupportedOperation.InvalidDataDisk",
                               f"{data.DiskId} is an elastic disk: grow it with CBS ResizeDisk.")
            size, (lo, hi), step, where = data.DiskSize, DATA_DISK_RANGE, DISK_STEP, "DataDisks.0.DiskSize"
        if size is None:
            raise ApiError("MissingParameter", f"The request is missing a required parameter `{where}`.")
        if disk is None and own:
            raise ApiError("InvalidParameterValue", f"The disk is not a disk of {instance_id}.")
        if disk is not None:
            if size <= disk.size:
                raise ApiError("InvalidParameterValue",
                               f"`{where}` must be larger than the current {disk.size} GiB (disks only grow).")
            if size > hi or size < lo or size % step:
                raise ApiError("InvalidParameterValue.Range", f"`{where}` must be {lo}-{hi} GiB in steps of {step}.")
        online = bool(req.ResizeOnline)
        accepted = ops.accept(
            conn, account_id=ctx.account.id, region=ctx.region, action="ResizeInstanceDisks",
            instance_ids=[instance_id], request_id=ctx.request_id, forced=bool(req.ForceStop) or online,
            params=GrowDisk(disk.id if disk else None, size, online),
        )
        if disk is not None:
            conn.execute(disks.update().where(disks.c.id == disk.id).values(state="EXPANDING"))
    ctx.cloud.runner.submit(accepted.operation_ids)
    return {}


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
    with ctx.cloud.store.read() as conn:
        found = set(conn.execute(sa.select(key_pairs.c.id).where(
            key_pairs.c.account_id == ctx.account.id, key_pairs.c.id.in_(key_ids))).scalars())
    missing = [k for k in key_ids if k not in found]
    if missing:
        raise ApiError("InvalidKeyPairId.NotFound", f"The key pairs {missing} do not exist.")
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
        raise ApiError("MissingParameter", f"Give one attribute to modify: {', '.join(_MODIFIABLE)}.")
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
    reboot = req.HostName is not None and req.AutoReboot is not False
    with ctx.cloud.store.write() as conn:
        found = ops.check_batch(conn, account_id=ctx.account.id, region=ctx.region,
                                action="ModifyInstancesAttribute", instance_ids=ids)
        conn.execute(instances.update().where(instances.c.id.in_(ids)).values(
            **values, latest_operation="ModifyInstancesAttribute", latest_operation_state=lc.SUCCESS,
            latest_operation_request_id=ctx.request_id, latest_operation_error=None))
        running = [i for i in ids if found[i].state == lc.RUNNING]
        op_ids = []
        if reboot and running:
            # A new host name takes effect at boot: running instances reboot now (AutoReboot).
            accepted = ops.accept(conn, account_id=ctx.account.id, region=ctx.region,
                                  action="ModifyInstancesAttribute", instance_ids=running,
                                  request_id=ctx.request_id, params=lc.RebootRequest(FORCED_STOP_TYPE))
            op_ids = accepted.operation_ids
    ctx.cloud.runner.submit(op_ids)
    return {}
