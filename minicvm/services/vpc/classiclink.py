"""ClassicLink: basic-network instances linked to a VPC of the same account. A stop keeps the link;
terminating the instance removes it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.vpc import models as m
from minicvm.services.vpc.networks import int_param, owned_vpc, vpc_id_ok
from minicvm.services.vpc.service import VPC
from minicvm.store.tables import classic_links, instances
from minicvm.timefmt import now


def _basic_instances(conn: sa.Connection, ctx: Context, values: list[str]) -> list[str]:
    wanted = common.check_ids(values, "ins", "InstanceIds", "InvalidParameterValue.InstanceIdMalformed")
    rows = {r.id: r for r in conn.execute(sa.select(instances.c.id, instances.c.vpc_id).where(
        instances.c.id.in_(wanted), instances.c.account_id == ctx.account.id, instances.c.region == ctx.region))}
    missing = [i for i in wanted if i not in rows]
    if missing:
        raise ApiError("InvalidInstanceId.NotFound", f"The instances {missing} do not exist.")
    in_vpc = [i for i in wanted if rows[i].vpc_id]
    if in_vpc:
        raise ApiError("UnsupportedOperation", f"ClassicLink is for basic-network instances; {in_vpc} are in a VPC.")
    return wanted


@VPC.action("AttachClassicLinkVpc", m.ClassicLink)
async def attach_classic_link(ctx: Context, req: m.ClassicLink) -> dict[str, Any]:
    vpc_id = vpc_id_ok(req.VpcId)
    with ctx.cloud.store.write() as conn:
        owned_vpc(conn, ctx, vpc_id)
        for instance_id in _basic_instances(conn, ctx, req.InstanceIds):
            exists = conn.execute(sa.select(classic_links.c.vpc_id).where(
                classic_links.c.instance_id == instance_id, classic_links.c.vpc_id == vpc_id)).first()
            if not exists:
                conn.execute(classic_links.insert().values(instance_id=instance_id, vpc_id=vpc_id,
                                                           account_id=ctx.account.id, created_time=now()))
    return {}


@VPC.action("DetachClassicLinkVpc", m.ClassicLink)
async def detach_classic_link(ctx: Context, req: m.ClassicLink) -> dict[str, Any]:
    vpc_id = vpc_id_ok(req.VpcId)
    with ctx.cloud.store.write() as conn:
        owned_vpc(conn, ctx, vpc_id)
        wanted = _basic_instances(conn, ctx, req.InstanceIds)
        conn.execute(classic_links.delete().where(classic_links.c.vpc_id == vpc_id,
                                                  classic_links.c.instance_id.in_(wanted)))
    return {}


@VPC.action("DescribeClassicLinkInstances", m.DescribeClassicLinkInstances)
async def describe_classic_link_instances(ctx: Context, req: m.DescribeClassicLinkInstances) -> dict[str, Any]:
    filters = common.check_filters(req.Filters, ("vpc-id", "vm-ip"), unknown_code="InvalidParameter.InvalidFilter")
    offset, limit = common.paging(int_param(req.Offset, "Offset", 0), int_param(req.Limit, "Limit", 20))
    where: list[Any] = [classic_links.c.account_id == ctx.account.id]
    if "vpc-id" in filters:
        where.append(classic_links.c.vpc_id.in_(filters["vpc-id"]))
    if "vm-ip" in filters:
        where.append(classic_links.c.instance_id.in_(
            sa.select(instances.c.id).where(instances.c.private_ip.in_(filters["vm-ip"]))))
    with ctx.cloud.store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(classic_links).where(*where)).scalar_one()
        rows = conn.execute(sa.select(classic_links).where(*where).order_by(classic_links.c.created_time)
                            .offset(offset).limit(limit))
        return {"TotalCount": total,
                "ClassicLinkInstanceSet": [{"VpcId": r.vpc_id, "InstanceId": r.instance_id} for r in rows]}
