"""Members of a group on the wire: attach, detach, remove, stop and start through AS, protection,
listing. Requests are checked here; the state lives in backend.py."""

from __future__ import annotations

from typing import Any

from minicvm.domain.states import DEFAULT_STOPPED_MODE
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.autoscaling import models as m
from minicvm.services.autoscaling.backend import AutoScalingBackend
from minicvm.services.autoscaling.service import AS
from minicvm.services.autoscaling.specs import group_id_ok
from minicvm.services.autoscaling.views import member_view
from minicvm.services.context import Context

MEMBER_FILTERS = ("instance-id", "auto-scaling-group-id", "private-ip-address")


def _ids(values: list[str] | None, required: bool = True) -> list[str]:
    return common.check_ids(values, "ins", "InstanceIds", "InvalidParameterValue.InvalidInstanceId", required=required)


@AS.action("AttachInstances", m.GroupInstances)
async def attach_instances(ctx: Context, req: m.GroupInstances) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    return {"ActivityId": AutoScalingBackend(ctx).attach(group_id_ok(req.AutoScalingGroupId), wanted)}


@AS.action("DetachInstances", m.GroupInstances)
async def detach_instances(ctx: Context, req: m.GroupInstances) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    act = await AutoScalingBackend(ctx).leave(group_id_ok(req.AutoScalingGroupId), wanted, destroy_own=False)
    return {"ActivityId": act}


@AS.action("RemoveInstances", m.GroupInstances)
async def remove_instances(ctx: Context, req: m.GroupInstances) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    act = await AutoScalingBackend(ctx).leave(group_id_ok(req.AutoScalingGroupId), wanted, destroy_own=True)
    return {"ActivityId": act}


@AS.action("StopAutoScalingInstances", m.StopAutoScalingInstances)
async def stop_instances(ctx: Context, req: m.StopAutoScalingInstances) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    mode = req.StoppedMode or DEFAULT_STOPPED_MODE
    act = await AutoScalingBackend(ctx).stop(group_id_ok(req.AutoScalingGroupId), wanted, mode)
    return {"ActivityId": act}


@AS.action("StartAutoScalingInstances", m.GroupInstances)
async def start_instances(ctx: Context, req: m.GroupInstances) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    return {"ActivityId": AutoScalingBackend(ctx).start(group_id_ok(req.AutoScalingGroupId), wanted)}


@AS.action("SetInstancesProtection", m.SetInstancesProtection)
async def set_protection(ctx: Context, req: m.SetInstancesProtection) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    AutoScalingBackend(ctx).protect(group_id_ok(req.AutoScalingGroupId), wanted, req.ProtectedFromScaleIn)
    return {}


@AS.action("DescribeAutoScalingInstances", m.DescribeAutoScalingInstances)
async def describe_members(ctx: Context, req: m.DescribeAutoScalingInstances) -> dict[str, Any]:
    if req.InstanceIds and req.Filters:
        raise ApiError("InvalidParameter.Conflict", "`InstanceIds` and `Filters` cannot be used together.")
    wanted = _ids(req.InstanceIds, required=False)
    filters = common.check_filters(req.Filters, MEMBER_FILTERS, unknown_code="InvalidParameterValue.InvalidFilter",
                                   values_code="LimitExceeded.FilterValuesTooLong")
    offset, limit = common.paging(req.Offset, req.Limit)
    total, found = AutoScalingBackend(ctx).describe_members(wanted, filters, offset, limit)
    return {"TotalCount": total,
            "AutoScalingInstanceSet": [member_view(f.row, f.group_name, f.lc_name, f.instance) for f in found]}
