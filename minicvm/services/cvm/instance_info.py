"""What tools ask before they act: the types sold per zone (with prices), an instance's UserData, the types an
instance may change to, and its operation limits."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from minicvm.domain.catalog import FAMILIES, INSTANCE_TYPES, REGIONS, ZONES, InstanceType
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm import rules
from minicvm.services.cvm.backend import InstanceBackend, InstanceQuery
from minicvm.services.cvm.inquiries import type_price
from minicvm.services.cvm.instances import instance_ids
from minicvm.services.cvm.service import CVM
from minicvm.store.rows import Instance

SOLD_CHARGE_TYPES = ("POSTPAID_BY_HOUR", "PREPAID")
ZONE_CONFIG_FILTERS = ("zone", "instance-family", "instance-type", "instance-charge-type", "sort-keys")
SORT_FIELDS = {"cpu": "Cpu", "mem": "Memory"}
ATTRIBUTES = ("UserData",)
OPERATIONS = ("INSTANCE_DEGRADE", "INTERNET_CHARGE_TYPE_CHANGE")
MODIFICATION_STATUSES = ("SELL", "UNAVAILABLE")


def _bandwidth_gbps(itype: InstanceType) -> float:
    # Intranet bandwidth grows with the vCPUs, as on Tencent's standard families.
    return min(1.5 * itype.cpu, 25.0) if itype.cpu > 1 else 1.5


def _quota_item(zone: str, itype: InstanceType, charge_type: str) -> dict[str, Any]:
    family = FAMILIES[itype.family]
    return {
        "Zone": zone, "InstanceType": itype.name, "InstanceChargeType": charge_type, "NetworkCard": 0,
        "Externals": {"ReleaseAddress": False, "UnsupportNetworks": [],
                      "StorageBlockAttr": {"Type": "", "MinSize": 0, "MaxSize": 0}},
        "Cpu": itype.cpu, "Memory": itype.memory, "InstanceFamily": itype.family, "TypeName": family.name,
        "LocalDiskTypeList": [], "Status": "SELL", "Price": asdict(type_price(itype.name, charge_type)),
        "SoldOutReason": "", "InstanceBandwidth": _bandwidth_gbps(itype), "InstancePps": 25 * itype.cpu,
        "StorageBlockAmount": 0, "CpuType": family.cpu_type, "Gpu": 0, "Fpga": 0, "Remark": "", "GpuCount": 0.0,
        "Frequency": family.frequency, "StatusCategory": "EnoughStock",
    }


@CVM.action("DescribeZoneInstanceConfigInfos", m.DescribeZoneInstanceConfigInfos)
async def describe_zone_instance_config_infos(ctx: Context, req: m.DescribeZoneInstanceConfigInfos) -> dict[str, Any]:
    filters = common.check_filters(req.Filters, ZONE_CONFIG_FILTERS)
    zones = [z.zone for z in REGIONS[ctx.region].zones]
    for zone in filters.get("zone", []):
        if zone not in ZONES or ZONES[zone][0] != ctx.region:
            raise ApiError("InvalidZone.MismatchRegion", f"The zone {zone!r} does not exist in {ctx.region}.")
    for name in filters.get("instance-type", []):
        rules.instance_type(name)
    items = [
        _quota_item(zone, t, charge) for zone in zones for t in INSTANCE_TYPES.values() for charge in SOLD_CHARGE_TYPES
        if all((zone if f == "zone" else t.family if f == "instance-family" else t.name if f == "instance-type"
                else charge) in values for f, values in filters.items() if f != "sort-keys")
    ]
    for key in reversed(filters.get("sort-keys", [])):
        field, _, order = key.partition(":")
        if field not in SORT_FIELDS or order not in ("asc", "desc"):
            raise ApiError("InvalidFilterValue", f"sort-keys {key!r}: use cpu or mem with :asc or :desc.")
        items.sort(key=lambda item: item[SORT_FIELDS[field]], reverse=order == "desc")
    return {"InstanceTypeQuotaSet": items}


def _instances(ctx: Context, ids: list[str]) -> list[Instance]:
    """The instances, in the order asked; any that is not the caller's is InvalidInstanceId.NotFound."""
    wanted = list(dict.fromkeys(ids))
    page = InstanceBackend(ctx).describe(InstanceQuery(wanted, {}), 0, len(wanted))
    found = {r.id: r for r in page.rows}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ApiError("InvalidInstanceId.NotFound", f"The instances {missing} do not exist.")
    return [found[i] for i in wanted]


@CVM.action("DescribeInstancesAttributes", m.DescribeInstancesAttributes)
async def describe_instances_attributes(ctx: Context, req: m.DescribeInstancesAttributes) -> dict[str, Any]:
    unknown = [a for a in req.Attributes if a not in ATTRIBUTES]
    if unknown or not req.Attributes:
        raise ApiError("InvalidParameterValue", f"`Attributes` may name only {', '.join(ATTRIBUTES)}; got {unknown}.")
    rows = _instances(ctx, instance_ids(req.InstanceIds))
    return {"InstanceSet": [{"InstanceId": r.id, "Attributes": {"UserData": r.user_data or ""}} for r in rows]}


@CVM.action("DescribeInstancesModification", m.DescribeInstancesModification)
async def describe_instances_modification(ctx: Context, req: m.DescribeInstancesModification) -> dict[str, Any]:
    filters = common.check_filters(req.Filters, ("status",), max_values=2)
    bad = [s for s in filters.get("status", []) if s not in MODIFICATION_STATUSES]
    if bad:
        raise ApiError("InvalidFilterValue", f"status {bad}: use SELL or UNAVAILABLE.")
    ids = instance_ids(req.InstanceIds, limit=20)
    rows = _instances(ctx, ids)
    if len({r.zone for r in rows}) > 1:
        raise ApiError("FailedOperation.ZoneInconsistent", "The instances must be in one availability zone.")
    systems = InstanceBackend(ctx).disk_types(ids, "SYSTEM_DISK")
    statuses = []
    for target in INSTANCE_TYPES.values():
        refusals = [rules.type_change_refusal(r.instance_type, target, next(iter(systems.get(r.id, [])), None),
                                              rules.stopped_without_charge(r)) for r in rows]
        refused = next((x for x in refusals if x is not None), None)
        status = "UNAVAILABLE" if refused else "SELL"
        if "status" in filters and status not in filters["status"]:
            continue
        statuses.append({
            "Status": status, "Message": refused.message if refused else "",
            "InstanceTypeConfig": {"Zone": rows[0].zone, "InstanceType": target.name, "InstanceFamily": target.family,
                                   "GPU": 0, "CPU": target.cpu, "Memory": target.memory, "FPGA": 0, "GpuCount": 0.0,
                                   "GpuType": "", "GpuMemory": 0.0},
        })
    return {"TotalCount": len(statuses), "InstanceTypeConfigStatusSet": statuses}


@CVM.action("DescribeInstancesOperationLimit", m.DescribeInstancesOperationLimit)
async def describe_instances_operation_limit(ctx: Context, req: m.DescribeInstancesOperationLimit) -> dict[str, Any]:
    if req.Operation not in OPERATIONS:
        raise ApiError("InvalidParameterValue", f"`Operation` must be one of {', '.join(OPERATIONS)}.")
    rows = _instances(ctx, instance_ids(req.InstanceIds))
    # minicvm does not count type changes (-1: unlimited) and has no way to change the bandwidth's charge type
    # (0: not allowed).
    current, limit = (-1, -1) if req.Operation == "INSTANCE_DEGRADE" else (0, 0)
    return {"InstanceOperationLimitSet": [{"Operation": req.Operation, "InstanceId": r.id, "CurrentCount": current,
                                           "LimitCount": limit} for r in rows]}
