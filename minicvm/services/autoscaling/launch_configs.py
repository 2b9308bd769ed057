"""Launch configurations on the wire: the instance spec a group launches from, validated once when
written (specs.py) and kept by the backend."""

from __future__ import annotations

from typing import Any

from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.autoscaling import models as m
from minicvm.services.autoscaling.backend import AutoScalingBackend
from minicvm.services.autoscaling.service import AS
from minicvm.services.autoscaling.specs import launch_spec, lc_id_ok, lc_name
from minicvm.services.autoscaling.views import lc_view
from minicvm.services.context import Context

LC_FILTERS = ("launch-configuration-id", "launch-configuration-name", "vague-launch-configuration-name", "tag-key",
              "tag-value")


@AS.action("CreateLaunchConfiguration", m.CreateLaunchConfiguration)
async def create_launch_configuration(ctx: Context, req: m.CreateLaunchConfiguration) -> dict[str, Any]:
    name = lc_name(req.LaunchConfigurationName)
    if req.ProjectId not in (None, 0):
        raise ApiError("InvalidParameterValue.ProjectIdNotFound", f"The project {req.ProjectId} does not exist.")
    spec = launch_spec(req, {}, req.InstanceType)
    return {"LaunchConfigurationId": AutoScalingBackend(ctx).create_launch_configuration(name, spec)}


@AS.action("DescribeLaunchConfigurations", m.DescribeLaunchConfigurations)
async def describe_launch_configurations(ctx: Context, req: m.DescribeLaunchConfigurations) -> dict[str, Any]:
    if req.LaunchConfigurationIds and req.Filters:
        raise ApiError("InvalidParameter.Conflict", "`LaunchConfigurationIds` and `Filters` cannot be used together.")
    wanted = [lc_id_ok(i) for i in req.LaunchConfigurationIds or []]
    filters = common.check_filters(req.Filters, LC_FILTERS, unknown_code="InvalidParameterValue.InvalidFilter",
                                   values_code="LimitExceeded.FilterValuesTooLong")
    offset, limit = common.paging(req.Offset, req.Limit)
    total, found = AutoScalingBackend(ctx).describe_launch_configurations(wanted, filters, offset, limit)
    return {"TotalCount": total, "LaunchConfigurationSet": [lc_view(f.row, f.groups) for f in found]}


@AS.action("ModifyLaunchConfigurationAttributes", m.ModifyLaunchConfigurationAttributes)
async def modify_launch_configuration(ctx: Context, req: m.ModifyLaunchConfigurationAttributes) -> dict[str, Any]:
    lc_id = lc_id_ok(req.LaunchConfigurationId)
    name = None if req.LaunchConfigurationName is None else lc_name(req.LaunchConfigurationName)
    AutoScalingBackend(ctx).modify_launch_configuration(lc_id, name, lambda current: launch_spec(req, current))
    return {}


@AS.action("DeleteLaunchConfiguration", m.LaunchConfigurationId)
async def delete_launch_configuration(ctx: Context, req: m.LaunchConfigurationId) -> dict[str, Any]:
    AutoScalingBackend(ctx).delete_launch_configuration(lc_id_ok(req.LaunchConfigurationId))
    return {}
