"""Backend targets on the wire: instances registered on a listener (L4) or a rule (L7), in any state —
as on Tencent, health decides what gets traffic."""

from __future__ import annotations

from typing import Any

from minicvm import errors
from minicvm.errors import ApiError
from minicvm.services.clb import models as m
from minicvm.services.clb import params
from minicvm.services.clb.backend import ClbBackend
from minicvm.services.clb.service import CLB
from minicvm.services.clb.views import health_view, targets_view
from minicvm.services.context import Context


@CLB.action("RegisterTargets", m.Targets)
async def register_targets(ctx: Context, req: m.Targets) -> dict[str, Any]:
    await ClbBackend(ctx).register_targets(params.lb_id(req.LoadBalancerId), params.listener_id(req.ListenerId),
                                           params.target_rule(req), params.targets(req))
    return {}


@CLB.action("DeregisterTargets", m.Targets)
async def deregister_targets(ctx: Context, req: m.Targets) -> dict[str, Any]:
    await ClbBackend(ctx).deregister_targets(params.lb_id(req.LoadBalancerId), params.listener_id(req.ListenerId),
                                             params.target_rule(req), params.targets(req))
    return {}


@CLB.action("ModifyTargetWeight", m.ModifyTargetWeight)
async def modify_target_weight(ctx: Context, req: m.ModifyTargetWeight) -> dict[str, Any]:
    if req.Weight is not None and not 0 <= req.Weight <= 100:
        raise ApiError("InvalidParameterValue.Range", "`Weight` must be 0-100.")
    await ClbBackend(ctx).modify_target_weights(params.lb_id(req.LoadBalancerId), params.listener_id(req.ListenerId),
                                                params.target_rule(req), params.targets(req), req.Weight)
    return {}


@CLB.action("DescribeTargets", m.DescribeTargets)
async def describe_targets(ctx: Context, req: m.DescribeTargets) -> dict[str, Any]:
    if req.ListenerIds and len(req.ListenerIds) > 20:
        raise ApiError("InvalidParameterValue.Length", "At most 20 `ListenerIds`.")
    locations: set[str] | None = None
    private_ips: set[str] | None = None
    for f in req.Filters or []:
        if f.Name == "location-id":
            locations = set(f.Values)
        elif f.Name == "private-ip-address":
            private_ips = set(f.Values)
        elif f.Name != "tag":
            raise ApiError("InvalidParameterValue.InvalidFilter", f"The filter `{f.Name}` is not supported.")
    found = ClbBackend(ctx).targets(params.lb_id(req.LoadBalancerId), req.ListenerIds, req.Protocol, req.Port)
    return {"Listeners": targets_view(found, locations, private_ips)}


@CLB.action("DescribeTargetHealth", m.DescribeTargetHealth)
async def describe_target_health(ctx: Context, req: m.DescribeTargetHealth) -> dict[str, Any]:
    if not req.LoadBalancerIds:
        raise errors.missing("LoadBalancerIds")
    if len(req.LoadBalancerIds) > 30:
        raise ApiError("InvalidParameterValue.Length", "At most 30 `LoadBalancerIds`.")
    found = ClbBackend(ctx).targets_of([params.lb_id(i) for i in req.LoadBalancerIds], req.ListenerIds)
    return {"LoadBalancers": [health_view(ctx.cloud.clb, f, req.LocationIds) for f in found]}
