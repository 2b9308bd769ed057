"""Load balancers on the wire: each gets its own loopback address as its VIP, where its listeners
really bind. Requests are checked here; the state lives in backend.py."""

from __future__ import annotations

from typing import Any

from minicvm import errors
from minicvm.engine.clb_controller import DRAIN_TAG
from minicvm.errors import ApiError
from minicvm.services import common as shared
from minicvm.services.clb import models as m
from minicvm.services.clb import params
from minicvm.services.clb.backend import ClbBackend, LbQuery
from minicvm.services.clb.service import CLB
from minicvm.services.clb.views import lb_view
from minicvm.services.context import Context

LB_FILTERS = ("loadbalancer-id", "loadbalancer-name", "loadbalancer-vip", "vpc-id", "tag-key", "tag-value",
              "project-id", "zone", "function-name", "vip-isp", "loadbalancer-type", "address-ip-version")


def check_drain_tag(tags: dict[str, str]) -> None:
    """The drain tag's value is read as seconds whenever a target shuts down: only numbers 0-3600 may be set,
    through CreateLoadBalancer or the Tag service alike."""
    if DRAIN_TAG not in tags:
        return
    try:
        seconds = float(tags[DRAIN_TAG])
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 3600:
        raise ApiError("InvalidParameterValue", f"The tag `{DRAIN_TAG}` takes 0-3600 seconds.")


def _tags(req: m.CreateLoadBalancer) -> list[dict[str, str]]:
    tags = [{"TagKey": t.TagKey, "TagValue": t.TagValue} for t in req.Tags or []]
    if len(tags) > 20:
        raise ApiError("InvalidParameterValue.Length", "At most 20 tags per load balancer.")
    check_drain_tag({t["TagKey"]: t["TagValue"] for t in tags})
    return tags


@CLB.action("CreateLoadBalancer", m.CreateLoadBalancer)
async def create_load_balancer(ctx: Context, req: m.CreateLoadBalancer) -> dict[str, Any]:
    if req.LoadBalancerType not in ("OPEN", "INTERNAL"):
        raise ApiError("InvalidParameterValue", "`LoadBalancerType` is OPEN or INTERNAL.")
    if req.Forward not in (None, 1):
        raise ApiError("InvalidParameterValue", "`Forward` only takes 1 (classic load balancers are retired).")
    if (req.AddressIPVersion or "IPV4").upper() != "IPV4":
        raise ApiError("UnsupportedOperation", "minicvm load balancers are IPv4 only.")
    count = 1 if req.Number is None else req.Number
    if not 1 <= count <= 20:
        raise ApiError("InvalidParameterValue.Range", "`Number` must be 1-20.")
    name = req.LoadBalancerName
    if name is not None and not 1 <= len(name) <= 80:
        raise ApiError("InvalidParameterValue.Length", "`LoadBalancerName` must be 1-80 characters.")
    shared.check_client_token(req.ClientToken, "InvalidParameter.ClientTokenLimitExceeded")
    created = ClbBackend(ctx).create_load_balancers(
        lb_type=req.LoadBalancerType, count=count, name=name, vpc_id=req.VpcId, subnet_id=req.SubnetId,
        tags=_tags(req), client_token=req.ClientToken)
    return {"LoadBalancerIds": created, "DealName": ""}


@CLB.action("DescribeLoadBalancers", m.DescribeLoadBalancers)
async def describe_load_balancers(ctx: Context, req: m.DescribeLoadBalancers) -> dict[str, Any]:
    wanted = [params.lb_id(i) for i in req.LoadBalancerIds or []]
    filters = shared.check_filters(req.Filters, LB_FILTERS, unknown_code="InvalidParameterValue.InvalidFilter",
                                   max_values=100, values_code="InvalidParameterValue.Length")
    offset, limit = shared.paging(req.Offset, req.Limit)
    query = LbQuery(wanted, req.LoadBalancerType, req.LoadBalancerName, req.LoadBalancerVips, req.VpcId,
                    req.SearchKey, bool(req.BackendPrivateIps or req.BackendPublicIps))
    backend = ClbBackend(ctx)
    total, rows = backend.describe_load_balancers(query, filters, offset, limit)
    counts = backend.target_counts([r.id for r in rows])
    return {"TotalCount": total, "LoadBalancerSet": [lb_view(r, counts.get(r.id, 0)) for r in rows]}


@CLB.action("DeleteLoadBalancer", m.DeleteLoadBalancer)
async def delete_load_balancer(ctx: Context, req: m.DeleteLoadBalancer) -> dict[str, Any]:
    if not req.LoadBalancerIds:
        raise errors.missing("LoadBalancerIds")
    if len(req.LoadBalancerIds) > 20:
        raise ApiError("InvalidParameterValue.Length", "At most 20 load balancers per request.")
    await ClbBackend(ctx).delete_load_balancers([params.lb_id(i) for i in req.LoadBalancerIds])
    return {}


@CLB.action("DescribeTaskStatus", m.DescribeTaskStatus)
async def describe_task_status(ctx: Context, req: m.DescribeTaskStatus) -> dict[str, Any]:
    if not req.TaskId:
        raise errors.missing("TaskId")
    task = ClbBackend(ctx).task_status(req.TaskId)
    return {"Status": task.status, "LoadBalancerIds": task.lb_ids, "Message": task.message}
