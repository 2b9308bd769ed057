"""Scaling groups on the wire: their settings, desired capacity, enabling, and their activity log.
Requests are checked here and in specs.py; the state lives in backend.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minicvm import ids as idmod
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.autoscaling import models as m
from minicvm.services.autoscaling.backend import AutoScalingBackend, GroupChange
from minicvm.services.autoscaling.service import AS
from minicvm.services.autoscaling.specs import (
    forward_entries,
    group_id_ok,
    group_name,
    group_settings,
    lc_id_ok,
    sizes,
)
from minicvm.services.autoscaling.views import activity_view, group_view
from minicvm.services.context import Context
from minicvm.timefmt import as_utc

GROUP_FILTERS = ("auto-scaling-group-id", "auto-scaling-group-name", "vague-auto-scaling-group-name",
                 "launch-configuration-id", "tag-key", "tag-value")
ACTIVITY_FILTERS = ("auto-scaling-group-id", "activity-status-code", "activity-type", "activity-id")


@AS.action("CreateAutoScalingGroup", m.CreateAutoScalingGroup)
async def create_group(ctx: Context, req: m.CreateAutoScalingGroup) -> dict[str, Any]:
    if req.LoadBalancerIds:
        raise ApiError("InvalidParameterValue.ClassicLb", "Classic load balancers are retired; use `ForwardLoadBalancers`.")
    desired = req.MinSize if req.DesiredCapacity is None else req.DesiredCapacity
    sizes(req.MinSize, req.MaxSize, desired)
    name = group_name(req.AutoScalingGroupName)
    lc_id = lc_id_ok(req.LaunchConfigurationId)
    tags = [{"Key": t.Key, "Value": t.Value, "ResourceType": "auto-scaling-group"} for t in req.Tags or []]
    group_id = AutoScalingBackend(ctx).create_group(
        name=name, lc_id=lc_id, vpc_id=req.VpcId, min_size=req.MinSize, max_size=req.MaxSize, desired=desired,
        settings_of=lambda vpc_id, current: group_settings(req, vpc_id, current),
        forward=forward_entries(req.ForwardLoadBalancers), tags=tags)
    return {"AutoScalingGroupId": group_id}


@AS.action("DescribeAutoScalingGroups", m.DescribeAutoScalingGroups)
async def describe_groups(ctx: Context, req: m.DescribeAutoScalingGroups) -> dict[str, Any]:
    if req.AutoScalingGroupIds and req.Filters:
        raise ApiError("InvalidParameter.Conflict", "`AutoScalingGroupIds` and `Filters` cannot be used together.")
    wanted = [group_id_ok(g) for g in req.AutoScalingGroupIds or []]
    filters = common.check_filters(req.Filters, GROUP_FILTERS, unknown_code="InvalidParameterValue.InvalidFilter",
                                   values_code="LimitExceeded.FilterValuesTooLong")
    offset, limit = common.paging(req.Offset, req.Limit)
    total, found = AutoScalingBackend(ctx).describe_groups(wanted, filters, offset, limit)
    return {"AutoScalingGroupSet": [group_view(f.row, f.lc_name, f.members, f.in_activity) for f in found],
            "TotalCount": total}


@AS.action("ModifyAutoScalingGroup", m.ModifyAutoScalingGroup)
async def modify_group(ctx: Context, req: m.ModifyAutoScalingGroup) -> dict[str, Any]:
    change = GroupChange(
        name=None if req.AutoScalingGroupName is None else group_name(req.AutoScalingGroupName),
        lc_id=None if req.LaunchConfigurationId is None else lc_id_ok(req.LaunchConfigurationId),
        min_size=req.MinSize, max_size=req.MaxSize, desired=req.DesiredCapacity, vpc_id=req.VpcId,
        subnets_given=req.SubnetIds is not None,
        settings=lambda vpc_id, current: group_settings(req, vpc_id, current))
    AutoScalingBackend(ctx).modify_group(group_id_ok(req.AutoScalingGroupId), change)
    return {}


@AS.action("ModifyDesiredCapacity", m.ModifyDesiredCapacity)
async def modify_desired_capacity(ctx: Context, req: m.ModifyDesiredCapacity) -> dict[str, Any]:
    AutoScalingBackend(ctx).modify_desired_capacity(group_id_ok(req.AutoScalingGroupId), req.DesiredCapacity,
                                                    req.MinSize, req.MaxSize)
    return {}


@AS.action("EnableAutoScalingGroup", m.GroupId)
async def enable_group(ctx: Context, req: m.GroupId) -> dict[str, Any]:
    AutoScalingBackend(ctx).set_enabled(group_id_ok(req.AutoScalingGroupId), True)
    return {}


@AS.action("DisableAutoScalingGroup", m.GroupId)
async def disable_group(ctx: Context, req: m.GroupId) -> dict[str, Any]:
    AutoScalingBackend(ctx).set_enabled(group_id_ok(req.AutoScalingGroupId), False)
    return {}


@AS.action("DeleteAutoScalingGroup", m.GroupId)
async def delete_group(ctx: Context, req: m.GroupId) -> dict[str, Any]:
    AutoScalingBackend(ctx).delete_group(group_id_ok(req.AutoScalingGroupId))
    return {}


def _time(value: str, name: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ApiError("InvalidParameterValue", f"`{name}` must be an ISO 8601 time such as 2026-01-01T00:00:00Z.") from None


@AS.action("DescribeAutoScalingActivities", m.DescribeAutoScalingActivities)
async def describe_activities(ctx: Context, req: m.DescribeAutoScalingActivities) -> dict[str, Any]:
    if req.ActivityIds and req.Filters:
        raise ApiError("InvalidParameter.Conflict", "`ActivityIds` and `Filters` cannot be used together.")
    bad = [a for a in req.ActivityIds or [] if not idmod.is_well_formed(a, "asa")]
    if bad:
        raise ApiError("InvalidParameterValue.InvalidActivityId", f"The activity ids {bad} are malformed.")
    filters = common.check_filters(req.Filters, ACTIVITY_FILTERS, unknown_code="InvalidParameterValue.InvalidFilter",
                                   values_code="LimitExceeded.FilterValuesTooLong")
    offset, limit = common.paging(req.Offset, req.Limit)
    ids = list(req.ActivityIds or [])
    # A time window narrows a listing, never a lookup by id.
    since = _time(req.StartTime, "StartTime") if req.StartTime and not ids else None
    until = _time(req.EndTime, "EndTime") if req.EndTime and not ids else None
    total, rows = AutoScalingBackend(ctx).describe_activities(ids, since, until, filters, offset, limit)
    return {"TotalCount": total, "ActivitySet": [activity_view(r) for r in rows]}
