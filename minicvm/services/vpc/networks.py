"""VPCs and subnets. Every account has a default VPC and a default subnet per zone; instances take
their private IP from their subnet, and a VPC or subnet in use cannot be deleted."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain.catalog import ZONES
from minicvm.engine import network
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.vpc import models as m
from minicvm.services.vpc.service import VPC
from minicvm.store.tables import instances, subnets, vpcs
from minicvm.timefmt import iso, now

PRIVATE_RANGES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("172.16.0.0/12"),
                  ipaddress.ip_network("192.168.0.0/16"))
VPC_QUOTA = 20
FILTER_CODE = "InvalidParameter.InvalidFilter"


def vpc_id_ok(value: str) -> str:
    if not idmod.is_well_formed(value, "vpc"):
        raise ApiError("InvalidParameterValue.Malformed", f"The VPC id {value!r} is malformed.")
    return value


def int_param(value: str | None, name: str, default: int) -> int:
    """VPC's Describe actions type Offset/Limit as strings."""
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError("InvalidParameterValue", f"`{name}` must be a number; got {value!r}.") from None


def _cidr(value: str | None, min_prefix: int, max_prefix: int, name: str = "CidrBlock") -> ipaddress.IPv4Network:
    if not value:
        raise ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
    try:
        net = ipaddress.IPv4Network(value)
    except ValueError:
        raise ApiError("InvalidParameterValue.Malformed", f"`{name}` {value!r} is not a CIDR block.") from None
    if not min_prefix <= net.prefixlen <= max_prefix:
        raise ApiError("InvalidParameterValue.Range", f"`{name}` must be a /{min_prefix} to /{max_prefix} block.")
    return net


def vpc_view(row: Any) -> dict[str, Any]:
    return {"VpcName": row.name, "VpcId": row.id, "CidrBlock": row.cidr, "IsDefault": row.is_default,
            "EnableMulticast": False, "CreatedTime": iso(row.created_time),
            "DnsServerSet": ["183.60.83.19", "183.60.82.98"], "DomainName": "", "DhcpOptionsId": "",
            "EnableDhcp": True, "Ipv6CidrBlock": "", "TagSet": [], "AssistantCidrSet": [], "StackType": "IPv4"}


def subnet_view(row: Any, used: int) -> dict[str, Any]:
    total = ipaddress.ip_network(row.cidr).num_addresses - 3
    return {"VpcId": row.vpc_id, "SubnetId": row.id, "SubnetName": row.name, "CidrBlock": row.cidr,
            "IsDefault": row.is_default, "EnableBroadcast": False, "Zone": row.zone, "RouteTableId": "",
            "CreatedTime": iso(row.created_time), "AvailableIpAddressCount": total - used,
            "Ipv6CidrBlock": "", "NetworkAclId": "", "IsRemoteVpcSnat": False, "TotalIpAddressCount": total,
            "TagSet": [], "CdcId": "", "IsCdcSubnet": 0, "StackType": "IPv4"}


def owned_vpc(conn: sa.Connection, ctx: Context, vpc_id: str) -> Any:
    row = conn.execute(sa.select(vpcs).where(vpcs.c.id == vpc_id, vpcs.c.account_id == ctx.account.id,
                                             vpcs.c.region == ctx.region)).first()
    if row is None:
        raise ApiError("ResourceNotFound", f"The VPC {vpc_id} does not exist.")
    return row


@VPC.action("CreateVpc", m.CreateVpc)
async def create_vpc(ctx: Context, req: m.CreateVpc) -> dict[str, Any]:
    if not 1 <= len(req.VpcName) <= 60:
        raise ApiError("InvalidParameterValue.Range", "`VpcName` must be 1-60 characters.")
    net = _cidr(req.CidrBlock, 12, 28)
    if not any(net.subnet_of(r) for r in PRIVATE_RANGES):
        raise ApiError("InvalidParameterValue.Range",
                       "`CidrBlock` must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.")
    with ctx.cloud.store.write() as conn:
        network.ensure_default_vpc(conn, ctx.account.id, ctx.region)
        count = conn.execute(sa.select(sa.func.count()).select_from(vpcs).where(
            vpcs.c.account_id == ctx.account.id, vpcs.c.region == ctx.region)).scalar_one()
        if count >= VPC_QUOTA:
            raise ApiError("LimitExceeded", f"At most {VPC_QUOTA} VPCs per region.")
        vpc_id = idmod.new_id("vpc")
        conn.execute(vpcs.insert().values(id=vpc_id, account_id=ctx.account.id, region=ctx.region, name=req.VpcName,
                                          cidr=str(net), is_default=False, created_time=now()))
        return {"Vpc": vpc_view(conn.execute(sa.select(vpcs).where(vpcs.c.id == vpc_id)).one())}


@VPC.action("DescribeVpcs", m.DescribeVpcs)
async def describe_vpcs(ctx: Context, req: m.DescribeVpcs) -> dict[str, Any]:
    wanted = [vpc_id_ok(v) for v in req.VpcIds or []]
    filters = common.check_filters(req.Filters, ("vpc-name", "is-default", "vpc-id", "cidr-block", "tag-key",
                                                 "tag-value"), unknown_code=FILTER_CODE, max_values=100,
                                   values_code="InvalidParameterValue.LimitExceeded")
    offset, limit = common.paging(int_param(req.Offset, "Offset", 0), int_param(req.Limit, "Limit", 20))
    c = vpcs.c
    where: list[Any] = [c.account_id == ctx.account.id, c.region == ctx.region]
    if wanted:
        where.append(c.id.in_(wanted))
    for name, values in filters.items():
        column = {"vpc-name": c.name, "vpc-id": c.id, "cidr-block": c.cidr}.get(name)
        if column is not None:
            where.append(column.in_(values))
        elif name == "is-default":
            where.append(c.is_default.in_([v.lower() == "true" for v in values]))
        else:
            where.append(sa.false())
    with ctx.cloud.store.write() as conn:
        network.ensure_default_vpc(conn, ctx.account.id, ctx.region)
        total = conn.execute(sa.select(sa.func.count()).select_from(vpcs).where(*where)).scalar_one()
        rows = conn.execute(sa.select(vpcs).where(*where).order_by(c.created_time, c.id).offset(offset).limit(limit))
        return {"TotalCount": total, "VpcSet": [vpc_view(r) for r in rows]}


@VPC.action("DeleteVpc", m.DeleteVpc)
async def delete_vpc(ctx: Context, req: m.DeleteVpc) -> dict[str, Any]:
    vpc_id = vpc_id_ok(req.VpcId)
    with ctx.cloud.store.write() as conn:
        owned_vpc(conn, ctx, vpc_id)
        in_use = conn.execute(sa.select(subnets.c.id).where(subnets.c.vpc_id == vpc_id)).scalars().all()
        if in_use:
            raise ApiError("ResourceInUse", f"The VPC {vpc_id} still has subnets {in_use}; delete them first.")
        conn.execute(vpcs.delete().where(vpcs.c.id == vpc_id))
    return {}


@VPC.action("CreateSubnet", m.CreateSubnet)
async def create_subnet(ctx: Context, req: m.CreateSubnet) -> dict[str, Any]:
    vpc_id = vpc_id_ok(req.VpcId)
    if not 1 <= len(req.SubnetName) <= 60:
        raise ApiError("InvalidParameterValue.Range", "`SubnetName` must be 1-60 characters.")
    if req.Zone not in ZONES or ZONES[req.Zone][0] != ctx.region:
        raise ApiError("InvalidParameterValue.Range", f"The zone {req.Zone!r} does not exist in {ctx.region}.")
    net = _cidr(req.CidrBlock, 16, 29)
    with ctx.cloud.store.write() as conn:
        vpc = owned_vpc(conn, ctx, vpc_id)
        if not net.subnet_of(ipaddress.IPv4Network(vpc.cidr)):
            raise ApiError("InvalidParameterValue.SubnetRange", f"{net} is not inside the VPC's {vpc.cidr}.")
        for other in conn.execute(sa.select(subnets.c.id, subnets.c.cidr).where(subnets.c.vpc_id == vpc_id)):
            if net.overlaps(ipaddress.IPv4Network(other.cidr)):
                raise ApiError("InvalidParameterValue.SubnetConflict", f"{net} overlaps {other.id} ({other.cidr}).")
        subnet_id = idmod.new_id("subnet")
        conn.execute(subnets.insert().values(
            id=subnet_id, account_id=ctx.account.id, vpc_id=vpc_id, region=ctx.region, zone=req.Zone,
            name=req.SubnetName, cidr=str(net), is_default=False, next_host=0, created_time=now()))
        return {"Subnet": subnet_view(conn.execute(sa.select(subnets).where(subnets.c.id == subnet_id)).one(), 0)}


@VPC.action("DescribeSubnets", m.DescribeSubnets)
async def describe_subnets(ctx: Context, req: m.DescribeSubnets) -> dict[str, Any]:
    wanted = list(req.SubnetIds or [])
    bad = [s for s in wanted if not idmod.is_well_formed(s, "subnet")]
    if bad:
        raise ApiError("InvalidParameterValue.Malformed", f"The subnet ids {bad} are malformed.")
    filters = common.check_filters(req.Filters, ("subnet-id", "vpc-id", "cidr-block", "is-default", "subnet-name",
                                                 "zone", "is-remote-vpc-snat", "tag-key", "tag-value"),
                                   unknown_code=FILTER_CODE, max_values=100,
                                   values_code="InvalidParameterValue.LimitExceeded")
    offset, limit = common.paging(int_param(req.Offset, "Offset", 0), int_param(req.Limit, "Limit", 20))
    c = subnets.c
    # The basic network is kept as hidden subnets (vpc_id ""); they are not the user's subnets.
    where: list[Any] = [c.account_id == ctx.account.id, c.region == ctx.region, c.vpc_id != ""]
    if wanted:
        where.append(c.id.in_(wanted))
    for name, values in filters.items():
        column = {"subnet-id": c.id, "vpc-id": c.vpc_id, "cidr-block": c.cidr, "subnet-name": c.name,
                  "zone": c.zone}.get(name)
        if column is not None:
            where.append(column.in_(values))
        elif name == "is-default":
            where.append(c.is_default.in_([v.lower() == "true" for v in values]))
        elif name == "is-remote-vpc-snat":
            where.append(sa.literal(False).in_([v.lower() == "true" for v in values]))
        else:
            where.append(sa.false())
    with ctx.cloud.store.write() as conn:
        network.ensure_default_vpc(conn, ctx.account.id, ctx.region)
        total = conn.execute(sa.select(sa.func.count()).select_from(subnets).where(*where)).scalar_one()
        rows = list(conn.execute(sa.select(subnets).where(*where).order_by(c.created_time, c.id)
                                 .offset(offset).limit(limit)))
        used = dict(conn.execute(sa.select(instances.c.subnet_id, sa.func.count()).where(
            instances.c.subnet_id.in_([r.id for r in rows])).group_by(instances.c.subnet_id)).all())
        return {"TotalCount": total, "SubnetSet": [subnet_view(r, used.get(r.id, 0)) for r in rows]}


@VPC.action("DeleteSubnet", m.DeleteSubnet)
async def delete_subnet(ctx: Context, req: m.DeleteSubnet) -> dict[str, Any]:
    if not idmod.is_well_formed(req.SubnetId, "subnet"):
        raise ApiError("InvalidParameterValue.Malformed", f"The subnet id {req.SubnetId!r} is malformed.")
    with ctx.cloud.store.write() as conn:
        row = conn.execute(sa.select(subnets).where(subnets.c.id == req.SubnetId, subnets.c.account_id == ctx.account.id,
                                                    subnets.c.region == ctx.region, subnets.c.vpc_id != "")).first()
        if row is None:
            raise ApiError("ResourceNotFound", f"The subnet {req.SubnetId} does not exist.")
        users = conn.execute(sa.select(instances.c.id).where(instances.c.subnet_id == req.SubnetId)).scalars().all()
        if users:
            raise ApiError("ResourceInUse", f"The subnet {req.SubnetId} still holds instances {users}.")
        conn.execute(subnets.delete().where(subnets.c.id == req.SubnetId))
    return {}
