"""CBS cloud disks. The disks RunInstances buys are here too, as non-portable disks of their instance;
elastic (portable) disks made by CreateDisks can be attached to and detached from instances."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import lifecycle as lc
from minicvm.domain.catalog import ZONES
from minicvm.engine import operations as ops
from minicvm.engine import resource_steps as steps
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.cbs import models as m
from minicvm.services.cbs.service import CBS
from minicvm.services.context import Context
from minicvm.store.tables import disks, instances
from minicvm.timefmt import now, plain

STANDALONE_TYPES = ("CLOUD_PREMIUM", "CLOUD_BSSD", "CLOUD_SSD", "CLOUD_HSSD")
MIN_SIZE = {"CLOUD_PREMIUM": 10, "CLOUD_BSSD": 20, "CLOUD_SSD": 20, "CLOUD_HSSD": 20}
MAX_SIZE = 32000
STEP = 10
MAX_DATA_DISKS = 20
DISK_FILTERS = ("disk-usage", "disk-charge-type", "portable", "project-id", "disk-id", "disk-name", "disk-type",
                "disk-state", "instance-id", "zone", "instance-ip-address", "instance-name", "tag-key", "tag-value",
                "dedicated-cluster-id", "cluster-group-id")


def disk_ids(values: list[str] | None, field: str = "DiskIds", limit: int = 100, required: bool = True) -> list[str]:
    return common.check_ids(values, "disk", field, "InvalidDiskId.NotFound", limit=limit, required=required)


def disk_view(row: Any) -> dict[str, Any]:
    return {
        "DiskId": row.id, "DiskName": row.name, "DiskType": row.disk_type, "DiskSize": row.size,
        "DiskState": row.state, "DiskUsage": row.usage, "DiskChargeType": row.charge_type,
        "Portable": row.portable, "Attached": row.instance_id is not None and row.state != "ATTACHING",
        "InstanceId": row.instance_id or "", "InstanceIdList": [], "DeleteWithInstance": row.delete_with_instance,
        "LastAttachInsId": row.last_instance_id, "InstanceType": "CVM",
        "Placement": {"Zone": row.zone, "ProjectId": 0, "CageId": None, "CdcId": None, "DedicatedClusterId": ""},
        "CreateTime": plain(row.created_time), "DeadlineTime": None, "RenewFlag": None, "Encrypt": False,
        "Shareable": False, "SnapshotAbility": True, "SnapshotCount": 0, "SnapshotSize": 0, "Rollbacking": False,
        "RollbackPercent": 0, "Migrating": False, "MigratePercent": 0, "BackupDisk": False, "Tags": [],
        "AttachMode": "PF", "ThroughputPerformance": 0, "IsReturnable": False, "ReturnFailCode": 10,
        "AutoRenewFlagError": False, "DeadlineError": False, "DifferDaysOfDeadline": None, "DeleteSnapshot": 0,
        "DiskBackupQuota": 0, "DiskBackupCount": 0, "ErrorPrompt": "", "BurstPerformance": False,
        "AutoSnapshotPolicyIds": None,
    }


def _owned(conn: sa.Connection, ctx: Context, wanted: list[str]) -> dict[str, Any]:
    rows = {r.id: r for r in conn.execute(sa.select(disks).where(
        disks.c.account_id == ctx.account.id, disks.c.region == ctx.region, disks.c.id.in_(wanted)))}
    missing = [d for d in wanted if d not in rows]
    if missing:
        raise ApiError("InvalidDiskId.NotFound", f"The disks {missing} do not exist.")
    return rows


def _size_problem(size: int, disk_type: str) -> str | None:
    low = MIN_SIZE.get(disk_type, 10)
    if not low <= size <= MAX_SIZE or size % STEP:
        return f"{disk_type} disks are {low}-{MAX_SIZE} GiB in steps of {STEP}; got {size}"
    return None


@CBS.action("CreateDisks", m.CreateDisks)
async def create_disks(ctx: Context, req: m.CreateDisks) -> dict[str, Any]:
    common.check_client_token(req.ClientToken, "InvalidParameter.InvalidClientToken")
    zone = req.Placement.Zone
    if zone not in ZONES or ZONES[zone][0] != ctx.region:
        raise ApiError("InvalidParameterValue", f"The zone {zone!r} does not exist in {ctx.region}.")
    if req.Placement.ProjectId not in (None, 0):
        raise ApiError("InvalidParameter.ProjectIdNotExist", f"The project {req.Placement.ProjectId} does not exist.")
    if req.DiskChargeType not in ("PREPAID", "POSTPAID_BY_HOUR"):
        raise ApiError("InvalidParameterValue", "`DiskChargeType` must be PREPAID or POSTPAID_BY_HOUR.")
    if req.DiskChargeType == "PREPAID" and req.DiskChargePrepaid is None:
        raise ApiError("MissingParameter", "`DiskChargePrepaid` is required for PREPAID disks.")
    if req.DiskType not in STANDALONE_TYPES:
        raise ApiError("InvalidParameter.DiskConfigNotSupported",
                       f"`DiskType` must be one of {', '.join(STANDALONE_TYPES)} for a disk bought on its own.")
    for unsupported in ("SnapshotId", "AutoMountConfiguration", "KmsKeyId", "Encrypt", "Shareable"):
        if getattr(req, unsupported):
            raise ApiError("UnsupportedOperation", f"`{unsupported}` is not supported by minicvm.")
    if req.DiskSize is None:
        raise ApiError("MissingParameter", "The request is missing a required parameter `DiskSize`.")
    problem = _size_problem(req.DiskSize, req.DiskType)
    if problem:
        raise ApiError("InvalidParameterValue", f"`DiskSize`: {problem}.")
    count = 1 if req.DiskCount is None else req.DiskCount
    if not 1 <= count <= 50:
        raise ApiError("InvalidParameterValue.LimitExceeded", "`DiskCount` must be 1-50.")
    name = req.DiskName if req.DiskName is not None else "Unnamed"
    if len(name.encode()) > 60:
        raise ApiError("InvalidParameterValue", "`DiskName` must be at most 60 bytes.")
    with ctx.cloud.store.write() as conn:
        earlier = common.remembered(conn, ctx.account.id, "CreateDisks", req.ClientToken)
        if earlier is not None:
            return earlier
        created = []
        for i in range(count):
            disk_id = idmod.new_id("disk")
            conn.execute(disks.insert().values(
                id=disk_id, account_id=ctx.account.id, region=ctx.region, zone=zone, instance_id=None,
                usage="DATA_DISK", disk_type=req.DiskType, size=req.DiskSize, portable=True,
                delete_with_instance=False, state="UNATTACHED", name=name if count == 1 else f"{name}_{i + 1}",
                charge_type=req.DiskChargeType, created_time=now()))
            created.append(disk_id)
        response = {"DiskIdSet": created}
        common.remember(conn, ctx.account.id, "CreateDisks", req.ClientToken, response)
    for disk_id in created:
        await ctx.cloud.driver.create_disk(disk_id, req.DiskSize)
    return response


@CBS.action("DescribeDisks", m.DescribeDisks)
async def describe_disks(ctx: Context, req: m.DescribeDisks) -> dict[str, Any]:
    if req.DiskIds and req.Filters:
        raise ApiError("InvalidParameterValue", "`DiskIds` and `Filters` cannot be used together.")
    wanted = disk_ids(req.DiskIds, required=False)
    filters = common.check_filters(req.Filters, DISK_FILTERS, max_values=100)
    offset, limit = common.paging(req.Offset, req.Limit)
    if req.OrderField not in (None, "CREATE_TIME", "DEADLINE") or req.Order not in (None, "ASC", "DESC"):
        raise ApiError("InvalidParameterValue", "`OrderField` is CREATE_TIME or DEADLINE; `Order` is ASC or DESC.")
    c = disks.c
    where: list[Any] = [c.account_id == ctx.account.id, c.region == ctx.region]
    if wanted:
        where.append(c.id.in_(wanted))
    columns = {"disk-usage": c.usage, "disk-charge-type": c.charge_type, "disk-id": c.id, "disk-name": c.name,
               "disk-type": c.disk_type, "disk-state": c.state, "instance-id": c.instance_id, "zone": c.zone}
    for name, values in filters.items():
        if name in columns:
            where.append(columns[name].in_(values))
        elif name == "portable":
            where.append(c.portable.in_([v.upper() == "TRUE" for v in values]))
        elif name == "project-id":
            where.append(sa.literal(0).in_([int(v) for v in values if v.isdigit()]))
        elif name in ("instance-ip-address", "instance-name"):
            column = instances.c.private_ip if name == "instance-ip-address" else instances.c.name
            where.append(c.instance_id.in_(sa.select(instances.c.id).where(column.in_(values))))
        else:
            where.append(sa.false())  # no tags, dedicated clusters or cluster groups here
    order = c.seq.desc() if req.Order == "DESC" else c.seq
    with ctx.cloud.store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(disks).where(*where)).scalar_one()
        rows = conn.execute(sa.select(disks).where(*where).order_by(order).offset(offset).limit(limit))
        return {"TotalCount": total, "DiskSet": [disk_view(r) for r in rows]}


def _start(ctx: Context, conn: sa.Connection, action: str, disk_id: str, step: str, params: dict[str, Any]) -> str:
    return ops.insert_operation(conn, account_id=ctx.account.id, resource_id=disk_id, action=action, steps=[step],
                                params=params, request_id=ctx.request_id)


def _check_instance(conn: sa.Connection, ctx: Context, action: str, instance_id: str) -> Any:
    inst = ops.check_batch(conn, account_id=ctx.account.id, region=ctx.region, action=action,
                           instance_ids=[instance_id])[instance_id]
    if inst.state != lc.STOPPED and not ctx.cloud.driver.hotplug_disks:
        raise ApiError("UnsupportedOperation.InstanceNotStopped",
                       f"{instance_id} must be shut down first: the {ctx.cloud.driver.name} driver cannot hot-plug disks.")
    return inst


def _not_elastic(disk: Any) -> tuple[str, str] | None:
    """Only elastic data disks move between instances: not system disks, not disks bought with one."""
    if disk.usage == "SYSTEM_DISK":
        return "ResourceUnavailable.TypeError", f"{disk.id} is a system disk"
    if not disk.portable:
        return "InvalidDisk.NotPortable", f"{disk.id} is not an elastic disk"
    return None


def _refuse_all(done: str, problems: list[tuple[str, str]]) -> None:
    """All-or-nothing: one refused disk refuses the batch, and the message names every refused one."""
    if problems:
        raise ApiError(problems[0][0], f"No disk was {done}: " + "; ".join(p for _, p in problems) + ".")


@CBS.action("AttachDisks", m.AttachDisks)
async def attach_disks(ctx: Context, req: m.AttachDisks) -> dict[str, Any]:
    wanted = disk_ids(req.DiskIds, limit=10)
    if not idmod.is_well_formed(req.InstanceId, "ins"):
        raise ApiError("InvalidInstanceId.NotFound", f"The instance {req.InstanceId!r} does not exist.")
    if req.AttachMode is not None:
        raise ApiError("InvalidParameterValue", "`AttachMode` is for bare-metal instances only.")
    with ctx.cloud.store.write() as conn:
        inst = _check_instance(conn, ctx, "AttachDisks", req.InstanceId)
        rows = _owned(conn, ctx, wanted)
        problems = []
        for disk_id in wanted:
            disk = rows[disk_id]
            if (problem := _not_elastic(disk)) is not None:
                problems.append(problem)
            elif disk.state != "UNATTACHED":
                code = "ResourceUnavailable.Attached" if disk.instance_id else "InvalidDisk.Busy"
                problems.append((code, f"{disk_id} is {disk.state}"))
            elif disk.zone != inst.zone:
                problems.append(("ResourceUnavailable.ZoneNotMatch", f"{disk_id} is in {disk.zone}, the instance in {inst.zone}"))
            elif req.DeleteWithInstance and disk.charge_type != "POSTPAID_BY_HOUR":
                problems.append(("InvalidParameterValue", f"{disk_id} is prepaid; DeleteWithInstance needs a postpaid disk"))
        _refuse_all("attached", problems)
        attached = conn.execute(sa.select(sa.func.count()).select_from(disks).where(
            disks.c.instance_id == inst.id, disks.c.usage == "DATA_DISK")).scalar_one()
        if attached + len(wanted) > MAX_DATA_DISKS:
            raise ApiError("LimitExceeded.InstanceAttachedDisk",
                           f"An instance takes at most {MAX_DATA_DISKS} data disks; {inst.id} has {attached}.")
        op_ids = []
        for disk_id in wanted:
            conn.execute(disks.update().where(disks.c.id == disk_id, disks.c.state == "UNATTACHED").values(
                state="ATTACHING", instance_id=inst.id,
                delete_with_instance=bool(req.DeleteWithInstance) if req.DeleteWithInstance is not None
                else rows[disk_id].delete_with_instance))
            op_ids.append(_start(ctx, conn, "AttachDisks", disk_id, steps.DISK_ATTACH, {"instance_id": inst.id}))
    ctx.cloud.runner.submit(op_ids)
    return {}


@CBS.action("DetachDisks", m.DetachDisks)
async def detach_disks(ctx: Context, req: m.DetachDisks) -> dict[str, Any]:
    wanted = disk_ids(req.DiskIds, limit=10)
    with ctx.cloud.store.write() as conn:
        rows = _owned(conn, ctx, wanted)
        problems = []
        for disk_id in wanted:
            disk = rows[disk_id]
            if (problem := _not_elastic(disk)) is not None:
                problems.append(problem)
            elif disk.state != "ATTACHED":
                problems.append(("InvalidDisk.NotSupported" if disk.state == "UNATTACHED" else "InvalidDisk.Busy",
                                 f"{disk_id} is {disk.state}"))
            elif req.InstanceId is not None and disk.instance_id != req.InstanceId:
                problems.append(("InvalidParameterValue", f"{disk_id} is attached to {disk.instance_id}, not {req.InstanceId}"))
        _refuse_all("detached", problems)
        for instance_id in {rows[d].instance_id for d in wanted}:
            _check_instance(conn, ctx, "DetachDisks", instance_id)
        op_ids = []
        for disk_id in wanted:
            conn.execute(disks.update().where(disks.c.id == disk_id).values(state="DETACHING"))
            op_ids.append(_start(ctx, conn, "DetachDisks", disk_id, steps.DISK_DETACH, {}))
    ctx.cloud.runner.submit(op_ids)
    return {}


@CBS.action("ResizeDisk", m.ResizeDisk)
async def resize_disk(ctx: Context, req: m.ResizeDisk) -> dict[str, Any]:
    if req.DiskId is None:
        raise ApiError("MissingParameter", "The request is missing a required parameter `DiskId`.")
    disk_id = disk_ids([req.DiskId], field="DiskId")[0]
    with ctx.cloud.store.write() as conn:
        disk = _owned(conn, ctx, [disk_id])[disk_id]
        if not disk.portable:
            raise ApiError("ResourceUnavailable.NotPortable",
                           f"{disk_id} is not elastic: grow it with CVM ResizeInstanceDisks.")
        if disk.state not in ("ATTACHED", "UNATTACHED"):
            raise ApiError("InvalidDisk.Busy", f"{disk_id} is {disk.state}; try again when it settles.")
        if req.DiskSize <= disk.size:
            raise ApiError("InvalidParameterValue",
                           f"`DiskSize` must be larger than the current {disk.size} GiB (disks only grow).")
        problem = _size_problem(req.DiskSize, disk.disk_type)
        if problem:
            raise ApiError("InvalidParameterValue", f"`DiskSize`: {problem}.")
        if disk.instance_id and ctx.cloud.settings.cbs_resize_requires_stop:
            state = conn.execute(sa.select(instances.c.state).where(instances.c.id == disk.instance_id)).scalar()
            if state != lc.STOPPED:
                raise ApiError("UnsupportedOperation.InstanceNotStopped",
                               f"{disk_id} is attached to {disk.instance_id}, which must be shut down first.")
        conn.execute(disks.update().where(disks.c.id == disk_id).values(state="EXPANDING"))
        op_id = _start(ctx, conn, "ResizeDisk", disk_id, steps.DISK_EXPAND, {"size": req.DiskSize})
    ctx.cloud.runner.submit([op_id])
    return {}


@CBS.action("ModifyDiskAttributes", m.ModifyDiskAttributes)
async def modify_disk_attributes(ctx: Context, req: m.ModifyDiskAttributes) -> dict[str, Any]:
    wanted = disk_ids(req.DiskIds)
    for unsupported in ("Portable", "DiskType", "BurstPerformanceOperation"):
        if getattr(req, unsupported) is not None:
            raise ApiError("UnsupportedOperation", f"Changing `{unsupported}` is not supported by minicvm.")
    if req.ProjectId not in (None, 0):
        raise ApiError("InvalidParameter.ProjectIdNotExist", f"The project {req.ProjectId} does not exist.")
    values: dict[str, Any] = {}
    if req.DiskName is not None:
        if not req.DiskName or len(req.DiskName.encode()) > 60:
            raise ApiError("InvalidParameterValue", "`DiskName` must be 1-60 bytes.")
        values["name"] = req.DiskName
    if req.DeleteWithInstance is not None:
        values["delete_with_instance"] = req.DeleteWithInstance
    if not values:
        raise ApiError("MissingParameter", "Give an attribute to modify (`DiskName` or `DeleteWithInstance`).")
    with ctx.cloud.store.write() as conn:
        rows = _owned(conn, ctx, wanted)
        if req.DeleteWithInstance and any(rows[d].charge_type != "POSTPAID_BY_HOUR" for d in wanted):
            raise ApiError("InvalidParameterValue", "Only postpaid disks can be deleted with their instance.")
        conn.execute(disks.update().where(disks.c.id.in_(wanted)).values(**values))
    return {}


@CBS.action("TerminateDisks", m.TerminateDisks)
async def terminate_disks(ctx: Context, req: m.TerminateDisks) -> dict[str, Any]:
    wanted = disk_ids(req.DiskIds)
    with ctx.cloud.store.write() as conn:
        rows = _owned(conn, ctx, wanted)
        for disk_id in wanted:
            disk = rows[disk_id]
            if not disk.portable:
                raise ApiError("InvalidDisk.NotPortable",
                               f"{disk_id} belongs to its instance and goes when the instance is terminated.")
            if disk.state != "UNATTACHED":
                raise ApiError("ResourceUnavailable.Attached" if disk.instance_id else "InvalidDisk.Busy",
                               f"{disk_id} is {disk.state}; detach it first.")
        conn.execute(disks.delete().where(disks.c.id.in_(wanted)))
    for disk_id in wanted:
        await ctx.cloud.driver.delete_disk(disk_id)
    return {}
