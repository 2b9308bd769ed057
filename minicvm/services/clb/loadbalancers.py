"""Load balancers: each gets its own loopback address as its VIP, where its listeners really bind."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.engine import network
from minicvm.engine.clb_controller import DRAIN_TAG
from minicvm.errors import ApiError
from minicvm.services import common as shared
from minicvm.services.clb import common
from minicvm.services.clb import models as m
from minicvm.services.clb.service import CLB
from minicvm.services.context import Context
from minicvm.store.tables import lb_rules, lb_targets, listeners, load_balancers, operations, subnets, vpcs
from minicvm.timefmt import now, plain

LB_QUOTA = 100
LB_FILTERS = ("loadbalancer-id", "loadbalancer-name", "loadbalancer-vip", "vpc-id", "tag-key", "tag-value",
              "project-id", "zone", "function-name", "vip-isp", "loadbalancer-type", "address-ip-version")


def lb_view(row: Any) -> dict[str, Any]:
    return {
        "LoadBalancerId": row.id, "LoadBalancerName": row.name, "LoadBalancerType": row.lb_type, "Forward": 1,
        "Domain": "", "LoadBalancerVips": [row.vip], "Status": 1, "CreateTime": plain(row.created_time),
        "StatusTime": plain(row.created_time), "ProjectId": 0, "VpcId": row.vpc_id, "OpenBgp": 0, "Snat": False,
        "Isolation": 0, "SubnetId": row.subnet_id or "", "Tags": list(row.tags), "SecureGroups": [],
        "AddressIPVersion": "ipv4", "NumericalVpcId": 0, "VipIsp": "BGP" if row.lb_type == "OPEN" else "INTERNAL",
        "ChargeType": "POSTPAID_BY_HOUR", "IsDDos": False, "LoadBalancerPassToTarget": True, "SnatPro": False,
        "IsBlock": False, "LocalBgp": False, "MixIpTarget": False, "Zones": None, "AttributeFlags": [],
        "LoadBalancerDomain": "", "Exclusive": 0,
        "NetworkAttributes": {"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR", "InternetMaxBandwidthOut": 10},
    }


def _tags(req: m.CreateLoadBalancer) -> list[dict[str, str]]:
    tags = [{"TagKey": t.TagKey, "TagValue": t.TagValue} for t in req.Tags or []]
    if len(tags) > 20:
        raise ApiError("InvalidParameterValue.Length", "At most 20 tags per load balancer.")
    for tag in tags:
        if tag["TagKey"] == DRAIN_TAG:
            try:
                seconds = float(tag["TagValue"])
            except ValueError:
                seconds = -1
            if not 0 <= seconds <= 3600:
                raise ApiError("InvalidParameterValue", f"The tag `{DRAIN_TAG}` takes 0-3600 seconds.")
    return tags


def _placement(conn: sa.Connection, ctx: Context, req: m.CreateLoadBalancer) -> tuple[str, str | None]:
    default_vpc = network.ensure_default_vpc(conn, ctx.account.id, ctx.region)
    vpc_id = req.VpcId or default_vpc
    if not conn.execute(sa.select(vpcs.c.id).where(vpcs.c.id == vpc_id, vpcs.c.account_id == ctx.account.id)).first():
        raise ApiError("InvalidParameter", f"The VPC {vpc_id} does not exist.")
    if req.LoadBalancerType == "INTERNAL":
        if not req.VpcId or not req.SubnetId:
            raise ApiError("MissingParameter", "An INTERNAL load balancer needs `VpcId` and `SubnetId`.")
        subnet = conn.execute(sa.select(subnets.c.vpc_id).where(subnets.c.id == req.SubnetId,
                                                                subnets.c.account_id == ctx.account.id)).first()
        if subnet is None or subnet.vpc_id != vpc_id:
            raise ApiError("InvalidParameter", f"The subnet {req.SubnetId} does not exist in {vpc_id}.")
        return vpc_id, req.SubnetId
    if req.SubnetId:
        raise ApiError("InvalidParameter", "`SubnetId` is not allowed for a public (OPEN) IPv4 load balancer.")
    return vpc_id, None


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
    tags = _tags(req)
    with ctx.cloud.store.write() as conn:
        earlier = shared.remembered(conn, ctx.account.id, "CreateLoadBalancer", req.ClientToken)
        if earlier is not None:
            return earlier
        vpc_id, subnet_id = _placement(conn, ctx, req)
        held = conn.execute(sa.select(sa.func.count()).select_from(load_balancers).where(
            load_balancers.c.account_id == ctx.account.id, load_balancers.c.lb_type == req.LoadBalancerType)).scalar_one()
        if held + count > LB_QUOTA:
            raise ApiError("LimitExceeded", f"At most {LB_QUOTA} {req.LoadBalancerType} load balancers per region.")
        created = []
        for _ in range(count):
            lb_id = idmod.new_id("lb")
            taken = {n for n in conn.execute(sa.select(load_balancers.c.name).where(
                load_balancers.c.account_id == ctx.account.id)).scalars()}
            # Duplicate names get an auto-generated one, as on Tencent.
            lb_name = name if name and name not in taken else f"{name or 'CLB'}-{lb_id[3:]}"
            result = conn.execute(load_balancers.insert().values(
                id=lb_id, account_id=ctx.account.id, region=ctx.region, name=lb_name, lb_type=req.LoadBalancerType,
                vpc_id=vpc_id, subnet_id=subnet_id, vip=f"pending-{lb_id}", tags=tags, created_time=now()))
            seq = result.inserted_primary_key[0]
            vip = str(ipaddress.ip_address(ctx.cloud.settings.clb_network) + seq)
            conn.execute(load_balancers.update().where(load_balancers.c.id == lb_id).values(vip=vip))
            created.append(lb_id)
        common.record_task(conn, ctx, "CreateLoadBalancer", created)
        response = {"LoadBalancerIds": created, "DealName": ""}
        shared.remember(conn, ctx.account.id, "CreateLoadBalancer", req.ClientToken, response)
    return response


@CLB.action("DescribeLoadBalancers", m.DescribeLoadBalancers)
async def describe_load_balancers(ctx: Context, req: m.DescribeLoadBalancers) -> dict[str, Any]:
    wanted = [common.check_lb_id(i) for i in req.LoadBalancerIds or []]
    filters = shared.check_filters(req.Filters, LB_FILTERS, unknown_code="InvalidParameterValue.InvalidFilter",
                                   max_values=100, values_code="InvalidParameterValue.Length")
    offset, limit = shared.paging(req.Offset, req.Limit)
    c = load_balancers.c
    where: list[Any] = [c.account_id == ctx.account.id, c.region == ctx.region]
    if wanted:
        where.append(c.id.in_(wanted))
    if req.LoadBalancerType:
        where.append(c.lb_type == req.LoadBalancerType)
    if req.LoadBalancerName:
        where.append(c.name == req.LoadBalancerName)
    if req.LoadBalancerVips:
        where.append(c.vip.in_(req.LoadBalancerVips))
    if req.VpcId:
        where.append(c.vpc_id == req.VpcId)
    if req.SearchKey:
        where.append(sa.or_(c.name.contains(req.SearchKey, autoescape=True), c.id == req.SearchKey,
                            c.vip == req.SearchKey))
    if req.BackendPrivateIps or req.BackendPublicIps:
        where.append(sa.false())  # targets are matched by instance here, not by address
    columns = {"loadbalancer-id": c.id, "loadbalancer-name": c.name, "loadbalancer-vip": c.vip, "vpc-id": c.vpc_id,
               "loadbalancer-type": c.lb_type}
    with ctx.cloud.store.read() as conn:
        for fname, values in filters.items():
            if fname in columns:
                where.append(columns[fname].in_(values))
            elif fname in ("tag-key", "tag-value"):
                field = "TagKey" if fname == "tag-key" else "TagValue"
                tagged = [r.id for r in conn.execute(sa.select(c.id, c.tags).where(c.account_id == ctx.account.id))
                          if any(t[field] in values for t in r.tags)]
                where.append(c.id.in_(tagged))
            elif fname == "address-ip-version":
                where.append(sa.literal("ipv4").in_([v.lower() for v in values]))
            else:
                where.append(sa.false())
        total = conn.execute(sa.select(sa.func.count()).select_from(load_balancers).where(*where)).scalar_one()
        rows = conn.execute(sa.select(load_balancers).where(*where).order_by(c.seq).offset(offset).limit(limit))
        return {"TotalCount": total, "LoadBalancerSet": [lb_view(r) for r in rows]}


@CLB.action("DeleteLoadBalancer", m.DeleteLoadBalancer)
async def delete_load_balancer(ctx: Context, req: m.DeleteLoadBalancer) -> dict[str, Any]:
    if not req.LoadBalancerIds:
        raise ApiError("MissingParameter", "The request is missing a required parameter `LoadBalancerIds`.")
    if len(req.LoadBalancerIds) > 20:
        raise ApiError("InvalidParameterValue.Length", "At most 20 load balancers per request.")
    with ctx.cloud.store.write() as conn:
        for lb_id in req.LoadBalancerIds:
            common.owned_lb(conn, ctx, lb_id)
        ids = list(req.LoadBalancerIds)
        conn.execute(lb_targets.delete().where(lb_targets.c.lb_id.in_(ids)))
        conn.execute(lb_rules.delete().where(lb_rules.c.lb_id.in_(ids)))
        conn.execute(listeners.delete().where(listeners.c.lb_id.in_(ids)))
        conn.execute(load_balancers.delete().where(load_balancers.c.id.in_(ids)))
        common.record_task(conn, ctx, "DeleteLoadBalancer", ids)
    await common.sync(ctx)
    return {}


@CLB.action("DescribeTaskStatus", m.DescribeTaskStatus)
async def describe_task_status(ctx: Context, req: m.DescribeTaskStatus) -> dict[str, Any]:
    if not req.TaskId:
        raise ApiError("MissingParameter", "The request is missing a required parameter `TaskId`.")
    with ctx.cloud.store.read() as conn:
        rows = list(conn.execute(sa.select(operations.c.resource_id, operations.c.state, operations.c.error).where(
            operations.c.request_id == req.TaskId, operations.c.account_id == ctx.account.id)))
    if not rows:
        raise ApiError("InvalidParameter", f"The task {req.TaskId} does not exist.")
    states = {r.state for r in rows}
    status = 1 if "FAILED" in states else 2 if "OPERATING" in states else 0
    message = "; ".join(r.error for r in rows if r.error) or ("Succeeded" if status == 0 else "")
    return {"Status": status, "LoadBalancerIds": sorted({r.resource_id for r in rows}), "Message": message}
