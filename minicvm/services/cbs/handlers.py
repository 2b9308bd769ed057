"""CBS cloud disks on the wire: each action checks its request, turns it into typed arguments for the
backend (backend.py) and shapes the answer. The disks RunInstances buys are CBS disks too, as
non-portable disks of their instance; elastic (portable) disks made by CreateDisks can be attached to
and detached from instances."""

from __future__ import annotations

from typing import Any

from minicvm import errors
from minicvm import ids as idmod
from minicvm.domain.catalog import ZONES
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.cbs import models as m
from minicvm.services.cbs.backend import DiskBackend
from minicvm.services.cbs.rules import MAX_NAME_BYTES, STANDALONE_TYPES, ChargeType, check_size
from minicvm.services.cbs.service import CBS
from minicvm.services.cbs.views import disk_view
from minicvm.services.context import Context
from minicvm.services.tag import rules as tag_rules

DISK_FILTERS = ("disk-usage", "disk-charge-type", "portable", "project-id", "disk-id", "disk-name", "disk-type",
                "disk-state", "instance-id", "zone", "instance-ip-address", "instance-name", "tag-key", "tag-value",
                "dedicated-cluster-id", "cluster-group-id")


def disk_ids(values: list[str] | None, field: str = "DiskIds", limit: int = 100, required: bool = True) -> list[str]:
    return common.check_ids(values, "disk", field, "InvalidDiskId.NotFound", limit=limit, required=required)


@CBS.action("CreateDisks", m.CreateDisks)
async def create_disks(ctx: Context, req: m.CreateDisks) -> dict[str, Any]:
    common.check_client_token(req.ClientToken, "InvalidParameter.InvalidClientToken")
    zone = req.Placement.Zone
    if zone not in ZONES or ZONES[zone][0] != ctx.region:
        raise ApiError("InvalidParameterValue", f"The zone {zone!r} does not exist in {ctx.region}.")
    if req.Placement.ProjectId not in (None, 0):
        raise ApiError("InvalidParameter.ProjectIdNotExist", f"The project {req.Placement.ProjectId} does not exist.")
    if req.DiskChargeType not in tuple(ChargeType):
        raise ApiError("InvalidParameterValue", "`DiskChargeType` must be PREPAID or POSTPAID_BY_HOUR.")
    if req.DiskChargeType == ChargeType.PREPAID and req.DiskChargePrepaid is None:
        raise errors.missing("DiskChargePrepaid")
    if req.DiskType not in STANDALONE_TYPES:
        raise ApiError("InvalidParameter.DiskConfigNotSupported",
                       f"`DiskType` must be one of {', '.join(STANDALONE_TYPES)} for a disk bought on its own.")
    for unsupported in ("SnapshotId", "AutoMountConfiguration", "KmsKeyId", "Encrypt", "Shareable"):
        if getattr(req, unsupported):
            raise ApiError("UnsupportedOperation", f"`{unsupported}` is not supported by minicvm.")
    if req.DiskSize is None:
        raise errors.missing("DiskSize")
    check_size(req.DiskSize, req.DiskType)
    count = 1 if req.DiskCount is None else req.DiskCount
    if not 1 <= count <= 50:
        raise ApiError("InvalidParameterValue.LimitExceeded", "`DiskCount` must be 1-50.")
    name = req.DiskName if req.DiskName is not None else "Unnamed"
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ApiError("InvalidParameterValue", f"`DiskName` must be at most {MAX_NAME_BYTES} bytes.")
    names = [name] if count == 1 else [f"{name}_{i + 1}" for i in range(count)]
    created = await DiskBackend(ctx).create(zone=zone, disk_type=req.DiskType, size=req.DiskSize,
                                            charge_type=req.DiskChargeType, names=names,
                                            client_token=req.ClientToken,
                                            tags=tag_rules.check_new_resource_tags([(t.Key, t.Value) for t in req.Tags or []]))
    return {"DiskIdSet": created}


@CBS.action("DescribeDisks", m.DescribeDisks)
async def describe_disks(ctx: Context, req: m.DescribeDisks) -> dict[str, Any]:
    if req.DiskIds and req.Filters:
        raise ApiError("InvalidParameterValue", "`DiskIds` and `Filters` cannot be used together.")
    wanted = disk_ids(req.DiskIds, required=False)
    filters = common.check_filters(req.Filters, DISK_FILTERS, max_values=100)
    offset, limit = common.paging(req.Offset, req.Limit)
    if req.OrderField not in (None, "CREATE_TIME", "DEADLINE") or req.Order not in (None, "ASC", "DESC"):
        raise ApiError("InvalidParameterValue", "`OrderField` is CREATE_TIME or DEADLINE; `Order` is ASC or DESC.")
    total, rows = DiskBackend(ctx).describe(ids=wanted, filters=filters, offset=offset, limit=limit,
                                            descending=req.Order == "DESC")
    return {"TotalCount": total, "DiskSet": [disk_view(r) for r in rows]}


@CBS.action("AttachDisks", m.AttachDisks)
async def attach_disks(ctx: Context, req: m.AttachDisks) -> dict[str, Any]:
    wanted = disk_ids(req.DiskIds, limit=10)
    if not idmod.is_well_formed(req.InstanceId, "ins"):
        raise ApiError("InvalidInstanceId.NotFound", f"The instance {req.InstanceId!r} does not exist.")
    if req.AttachMode is not None:
        raise ApiError("InvalidParameterValue", "`AttachMode` is for bare-metal instances only.")
    DiskBackend(ctx).attach(wanted, req.InstanceId, req.DeleteWithInstance)
    return {}


@CBS.action("DetachDisks", m.DetachDisks)
async def detach_disks(ctx: Context, req: m.DetachDisks) -> dict[str, Any]:
    DiskBackend(ctx).detach(disk_ids(req.DiskIds, limit=10), req.InstanceId)
    return {}


@CBS.action("ResizeDisk", m.ResizeDisk)
async def resize_disk(ctx: Context, req: m.ResizeDisk) -> dict[str, Any]:
    if req.DiskId is None:
        raise errors.missing("DiskId")
    DiskBackend(ctx).resize(disk_ids([req.DiskId], field="DiskId")[0], req.DiskSize)
    return {}


@CBS.action("ModifyDiskAttributes", m.ModifyDiskAttributes)
async def modify_disk_attributes(ctx: Context, req: m.ModifyDiskAttributes) -> dict[str, Any]:
    wanted = disk_ids(req.DiskIds)
    for unsupported in ("Portable", "DiskType", "BurstPerformanceOperation"):
        if getattr(req, unsupported) is not None:
            raise ApiError("UnsupportedOperation", f"Changing `{unsupported}` is not supported by minicvm.")
    if req.ProjectId not in (None, 0):
        raise ApiError("InvalidParameter.ProjectIdNotExist", f"The project {req.ProjectId} does not exist.")
    if req.DiskName is not None and (not req.DiskName or len(req.DiskName.encode()) > MAX_NAME_BYTES):
        raise ApiError("InvalidParameterValue", f"`DiskName` must be 1-{MAX_NAME_BYTES} bytes.")
    if req.DiskName is None and req.DeleteWithInstance is None:
        raise errors.missing_one_of("DiskName", "DeleteWithInstance")
    DiskBackend(ctx).modify(wanted, name=req.DiskName, delete_with_instance=req.DeleteWithInstance)
    return {}


@CBS.action("TerminateDisks", m.TerminateDisks)
async def terminate_disks(ctx: Context, req: m.TerminateDisks) -> dict[str, Any]:
    await DiskBackend(ctx).terminate(disk_ids(req.DiskIds))
    return {}
