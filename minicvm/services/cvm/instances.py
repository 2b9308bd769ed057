"""Listing instances and changing their power state (start, stop, reboot, terminate), on the wire.
Requests are checked here; the state lives in backend.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minicvm.domain import lifecycle as lc
from minicvm.domain.lifecycle import Refusal
from minicvm.domain.states import DEFAULT_STOPPED_MODE, StoppedMode
from minicvm.engine import operations as ops
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm import rules
from minicvm.services.cvm.backend import InstanceBackend, InstanceQuery
from minicvm.services.cvm.service import CVM
from minicvm.services.cvm.views import instance_views
from minicvm.store.rows import Instance

INSTANCE_FILTERS = (
    "zone", "project-id", "host-id", "dedicated-cluster-id", "vpc-id", "subnet-id", "instance-id", "uuid",
    "security-group-id", "instance-name", "instance-charge-type", "instance-state", "private-ip-address",
    "public-ip-address", "ipv6-address", "tag-key", "tag-value", "creation-start-time", "creation-end-time",
)


def instance_ids(values: list[str] | None, required: bool = True, limit: int = 100) -> list[str]:
    return common.check_ids(values, "ins", "InstanceIds", "InvalidInstanceId.Malformed", required=required,
                            limit=limit)


def _time(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ApiError("InvalidParameterValue.InvalidTimeFormat",
                       f"{value!r} is not a time of the form 2023-06-01 00:00:00.") from None


@CVM.action("DescribeInstances", m.DescribeInstances)
async def describe_instances(ctx: Context, req: m.DescribeInstances) -> dict[str, Any]:
    if req.InstanceIds and req.Filters:
        raise ApiError("InvalidParameter", "`InstanceIds` and `Filters` cannot be used together.")
    wanted = instance_ids(req.InstanceIds, required=False)
    filters = common.check_filters(req.Filters, INSTANCE_FILTERS)
    offset, limit = common.paging(req.Offset, req.Limit)
    since, until = filters.pop("creation-start-time", None), filters.pop("creation-end-time", None)
    query = InstanceQuery(wanted, filters, since=_time(since[0]) if since else None,
                          until=_time(until[0]) if until else None)
    page = InstanceBackend(ctx).describe(query, offset, limit)
    return {"TotalCount": page.total, "InstanceSet": instance_views(page)}


@CVM.action("DescribeInstancesStatus", m.DescribeInstancesStatus)
async def describe_instances_status(ctx: Context, req: m.DescribeInstancesStatus) -> dict[str, Any]:
    wanted = instance_ids(req.InstanceIds, required=False)
    offset, limit = common.paging(req.Offset, req.Limit)
    total, rows = InstanceBackend(ctx).status(wanted, offset, limit)
    return {"TotalCount": total, "InstanceStatusSet": [{"InstanceId": r.id, "InstanceState": r.state} for r in rows]}


def run_batch(ctx: Context, action: str, ids: list[str], *, params: lc.Params = None,
              forced: bool = False, extra: ops.Check | None = None) -> dict[str, Any]:
    """Accept an instance action for a whole batch (or none of it); the runner carries it out."""
    InstanceBackend(ctx).accept(action, ids, params=params, forced=forced, extra=extra)
    return {}


@CVM.action("StartInstances", m.InstanceIds)
async def start_instances(ctx: Context, req: m.InstanceIds) -> dict[str, Any]:
    return run_batch(ctx, "StartInstances", instance_ids(req.InstanceIds))


@CVM.action("StopInstances", m.StopInstances)
async def stop_instances(ctx: Context, req: m.StopInstances) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    stop = rules.stop_type(req.StopType, req.ForceStop)
    mode = req.StoppedMode or DEFAULT_STOPPED_MODE
    extra = None
    if mode is StoppedMode.STOP_CHARGING:
        types = InstanceBackend(ctx).disk_types(ids)

        def extra(row: Instance) -> Refusal | None:
            return lc.stop_charging_refusal(row.id, row.charge_type, types.get(row.id, []))

    return run_batch(ctx, "StopInstances", ids, params=lc.StopRequest(stop, mode), extra=extra)


@CVM.action("RebootInstances", m.RebootInstances)
async def reboot_instances(ctx: Context, req: m.RebootInstances) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    stop = rules.stop_type(req.StopType, req.ForceReboot, "ForceReboot")
    return run_batch(ctx, "RebootInstances", ids, params=lc.RebootRequest(stop))


@CVM.action("TerminateInstances", m.TerminateInstances)
async def terminate_instances(ctx: Context, req: m.TerminateInstances) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    if len(InstanceBackend(ctx).charge_types(ids)) > 1:
        raise ApiError("UnsupportedOperation.InstanceMixedPricingModel",
                       "Prepaid and pay-as-you-go instances cannot be terminated in one request.")

    def protected(row: Instance) -> Refusal | None:
        if row.disable_api_termination:
            return Refusal(row.id, "UnsupportedOperation.InstancesProtected",
                           "termination protection is on (DisableApiTermination)")
        return None

    return run_batch(ctx, "TerminateInstances", ids, params=lc.TerminateRequest(bool(req.ReleaseAddress)),
                     extra=protected)
