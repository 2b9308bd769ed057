"""VPC on the wire: VPCs, subnets, ClassicLinks and public addresses. Each action checks its request,
turns it into typed arguments for the backend (backend.py) and shapes the answer."""

from __future__ import annotations

import ipaddress
from typing import Any

from minicvm import errors
from minicvm import ids as idmod
from minicvm.domain.catalog import ZONES
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.tag import rules as tag_rules
from minicvm.services.vpc import models as m
from minicvm.services.vpc.backend import EIP_QUOTA, AddressBackend, NetworkBackend
from minicvm.services.vpc.service import VPC
from minicvm.services.vpc.views import address_view, subnet_view, vpc_view

PRIVATE_RANGES = (ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Network("172.16.0.0/12"),
                  ipaddress.IPv4Network("192.168.0.0/16"))
FILTER_CODE = "InvalidParameter.InvalidFilter"
VALUES_CODE = "InvalidParameterValue.LimitExceeded"
VPC_FILTERS = ("vpc-name", "is-default", "vpc-id", "cidr-block", "tag-key", "tag-value")
SUBNET_FILTERS = ("subnet-id", "vpc-id", "cidr-block", "is-default", "subnet-name", "zone", "is-remote-vpc-snat",
                  "tag-key", "tag-value")
ADDRESS_FILTERS = ("address-id", "address-name", "address-ip", "address-status", "instance-id", "private-ip-address",
                   "network-interface-id", "is-arrears", "instance-type", "address-type", "address-isp",
                   "dedicated-cluster-id", "tag-key", "tag-value")
# The most Mbps each charge type sells.
CHARGE_TYPES = {"TRAFFIC_POSTPAID_BY_HOUR": 100, "BANDWIDTH_POSTPAID_BY_HOUR": 100, "BANDWIDTH_PREPAID_BY_MONTH": 200,
                "BANDWIDTH_PACKAGE": 2000}


def vpc_id_ok(value: str) -> str:
    if not idmod.is_well_formed(value, "vpc"):
        raise ApiError("InvalidParameterValue.Malformed", f"The VPC id {value!r} is malformed.")
    return value


def address_ids(values: list[str] | None, required: bool = True) -> list[str]:
    return common.check_ids(values, "eip", "AddressIds", "InvalidParameterValue.AddressIdMalformed",
                            required=required)


def int_param(value: str | None, name: str, default: int) -> int:
    """VPC's Describe actions type Offset/Limit as strings."""
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError("InvalidParameterValue", f"`{name}` must be a number; got {value!r}.") from None


def string_paging(offset: str | None, limit: str | None) -> tuple[int, int]:
    return common.paging(int_param(offset, "Offset", 0), int_param(limit, "Limit", 20))


def cidr(value: str | None, min_prefix: int, max_prefix: int, name: str = "CidrBlock") -> ipaddress.IPv4Network:
    if not value:
        raise errors.missing(name)
    try:
        net = ipaddress.IPv4Network(value)
    except ValueError:
        raise ApiError("InvalidParameterValue.Malformed", f"`{name}` {value!r} is not a CIDR block.") from None
    if not min_prefix <= net.prefixlen <= max_prefix:
        raise ApiError("InvalidParameterValue.Range", f"`{name}` must be a /{min_prefix} to /{max_prefix} block.")
    return net


@VPC.action("CreateVpc", m.CreateVpc)
async def create_vpc(ctx: Context, req: m.CreateVpc) -> dict[str, Any]:
    if not 1 <= len(req.VpcName) <= 60:
        raise ApiError("InvalidParameterValue.Range", "`VpcName` must be 1-60 characters.")
    net = cidr(req.CidrBlock, 12, 28)
    if not any(net.subnet_of(r) for r in PRIVATE_RANGES):
        raise ApiError("InvalidParameterValue.Range",
                       "`CidrBlock` must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.")
    return {"Vpc": vpc_view(NetworkBackend(ctx).create_vpc(req.VpcName, net))}


@VPC.action("DescribeVpcs", m.DescribeVpcs)
async def describe_vpcs(ctx: Context, req: m.DescribeVpcs) -> dict[str, Any]:
    wanted = [vpc_id_ok(v) for v in req.VpcIds or []]
    filters = common.check_filters(req.Filters, VPC_FILTERS, unknown_code=FILTER_CODE, max_values=100,
                                   values_code=VALUES_CODE)
    offset, limit = string_paging(req.Offset, req.Limit)
    total, rows = NetworkBackend(ctx).describe_vpcs(wanted, filters, offset, limit)
    return {"TotalCount": total, "VpcSet": [vpc_view(r) for r in rows]}


@VPC.action("DeleteVpc", m.DeleteVpc)
async def delete_vpc(ctx: Context, req: m.DeleteVpc) -> dict[str, Any]:
    NetworkBackend(ctx).delete_vpc(vpc_id_ok(req.VpcId))
    return {}


@VPC.action("CreateSubnet", m.CreateSubnet)
async def create_subnet(ctx: Context, req: m.CreateSubnet) -> dict[str, Any]:
    vpc_id = vpc_id_ok(req.VpcId)
    if not 1 <= len(req.SubnetName) <= 60:
        raise ApiError("InvalidParameterValue.Range", "`SubnetName` must be 1-60 characters.")
    if req.Zone not in ZONES or ZONES[req.Zone][0] != ctx.region:
        raise ApiError("InvalidParameterValue.Range", f"The zone {req.Zone!r} does not exist in {ctx.region}.")
    net = cidr(req.CidrBlock, 16, 29)
    return {"Subnet": subnet_view(NetworkBackend(ctx).create_subnet(vpc_id, req.SubnetName, req.Zone, net), 0)}


@VPC.action("DescribeSubnets", m.DescribeSubnets)
async def describe_subnets(ctx: Context, req: m.DescribeSubnets) -> dict[str, Any]:
    wanted = list(req.SubnetIds or [])
    bad = [s for s in wanted if not idmod.is_well_formed(s, "subnet")]
    if bad:
        raise ApiError("InvalidParameterValue.Malformed", f"The subnet ids {bad} are malformed.")
    filters = common.check_filters(req.Filters, SUBNET_FILTERS, unknown_code=FILTER_CODE, max_values=100,
                                   values_code=VALUES_CODE)
    offset, limit = string_paging(req.Offset, req.Limit)
    total, rows = NetworkBackend(ctx).describe_subnets(wanted, filters, offset, limit)
    # NextToken pages only when a request gives one (minicvm pages by Offset/Limit): null, not "".
    return {"TotalCount": total, "SubnetSet": [subnet_view(r, used) for r, used in rows], "NextToken": None}


@VPC.action("DeleteSubnet", m.DeleteSubnet)
async def delete_subnet(ctx: Context, req: m.DeleteSubnet) -> dict[str, Any]:
    if not idmod.is_well_formed(req.SubnetId, "subnet"):
        raise ApiError("InvalidParameterValue.Malformed", f"The subnet id {req.SubnetId!r} is malformed.")
    NetworkBackend(ctx).delete_subnet(req.SubnetId)
    return {}


def classic_instance_ids(values: list[str]) -> list[str]:
    return common.check_ids(values, "ins", "InstanceIds", "InvalidParameterValue.InstanceIdMalformed")


@VPC.action("AttachClassicLinkVpc", m.ClassicLink)
async def attach_classic_link(ctx: Context, req: m.ClassicLink) -> dict[str, Any]:
    NetworkBackend(ctx).link_classic(vpc_id_ok(req.VpcId), classic_instance_ids(req.InstanceIds))
    return {}


@VPC.action("DetachClassicLinkVpc", m.ClassicLink)
async def detach_classic_link(ctx: Context, req: m.ClassicLink) -> dict[str, Any]:
    NetworkBackend(ctx).unlink_classic(vpc_id_ok(req.VpcId), classic_instance_ids(req.InstanceIds))
    return {}


@VPC.action("DescribeClassicLinkInstances", m.DescribeClassicLinkInstances)
async def describe_classic_link_instances(ctx: Context, req: m.DescribeClassicLinkInstances) -> dict[str, Any]:
    filters = common.check_filters(req.Filters, ("vpc-id", "vm-ip"), unknown_code=FILTER_CODE)
    offset, limit = string_paging(req.Offset, req.Limit)
    total, rows = NetworkBackend(ctx).describe_classic_links(filters.get("vpc-id"), filters.get("vm-ip"),
                                                             offset, limit)
    return {"TotalCount": total,
            "ClassicLinkInstanceSet": [{"VpcId": r.vpc_id, "InstanceId": r.instance_id} for r in rows]}


@VPC.action("AllocateAddresses", m.AllocateAddresses)
async def allocate_addresses(ctx: Context, req: m.AllocateAddresses) -> dict[str, Any]:
    common.check_client_token(req.ClientToken, "InvalidParameterValue")
    count = 1 if req.AddressCount is None else req.AddressCount
    if not 1 <= count <= EIP_QUOTA:
        raise ApiError("InvalidParameterValue.Range", f"`AddressCount` must be 1-{EIP_QUOTA}.")
    if (req.AddressType or "EIP") != "EIP":
        raise ApiError("InvalidParameterValue.AddressTypeConflict", "minicvm allocates plain EIPs only (AddressType EIP).")
    charge = req.InternetChargeType or "TRAFFIC_POSTPAID_BY_HOUR"
    if charge not in CHARGE_TYPES:
        raise ApiError("InvalidParameterValue", f"`InternetChargeType` must be one of {sorted(CHARGE_TYPES)}.")
    bandwidth = 1 if req.InternetMaxBandwidthOut is None else req.InternetMaxBandwidthOut
    if not 1 <= bandwidth <= CHARGE_TYPES[charge]:
        raise ApiError("InvalidParameterValue.BandwidthOutOfRange",
                       f"`InternetMaxBandwidthOut` must be 1-{CHARGE_TYPES[charge]} Mbps for {charge}.")
    name = req.AddressName if req.AddressName is not None else "Unnamed"
    if len(name) > 128:
        raise ApiError("InvalidParameterValue", "`AddressName` must be at most 128 characters.")
    created, task_id = AddressBackend(ctx).allocate(count=count, charge_type=charge, bandwidth=bandwidth, name=name,
                                                    client_token=req.ClientToken,
                                                    tags=tag_rules.check_new_resource_tags(
                                                        [(t.Key, t.Value or "") for t in req.Tags or []]))
    return {"AddressSet": created, "TaskId": str(task_id)}


@VPC.action("DescribeAddresses", m.DescribeAddresses)
async def describe_addresses(ctx: Context, req: m.DescribeAddresses) -> dict[str, Any]:
    wanted = address_ids(req.AddressIds, required=False)
    filters = common.check_filters(req.Filters, ADDRESS_FILTERS, unknown_code=FILTER_CODE, max_values=100,
                                   values_code=VALUES_CODE)
    if wanted and "address-id" in filters:
        raise ApiError("InvalidParameter", "`AddressIds` and the `address-id` filter cannot be used together.")
    offset, limit = common.paging(req.Offset, req.Limit)
    total, rows = AddressBackend(ctx).describe(wanted, filters, offset, limit)
    return {"TotalCount": total, "AddressSet": [address_view(r) for r in rows]}


@VPC.action("AssociateAddress", m.AssociateAddress)
async def associate_address(ctx: Context, req: m.AssociateAddress) -> dict[str, Any]:
    address_id = address_ids([req.AddressId])[0]
    if req.NetworkInterfaceId is not None:
        if req.InstanceId is not None:
            raise ApiError("InvalidParameterConflict", "`InstanceId` and `NetworkInterfaceId` exclude each other.")
        raise ApiError("InvalidParameterValue.ResourceNotSupport", "minicvm has no elastic network interfaces.")
    if req.InstanceId is None:
        raise ApiError("InvalidParameterValue.MissingAssociateEntity", "Give the `InstanceId` to bind the EIP to.")
    if not idmod.is_well_formed(req.InstanceId, "ins"):
        raise ApiError("InvalidParameterValue.InstanceIdMalformed", f"The instance id {req.InstanceId!r} is malformed.")
    task_id = AddressBackend(ctx).associate(address_id, req.InstanceId, req.PrivateIpAddress)
    return {"TaskId": str(task_id)}


@VPC.action("DisassociateAddress", m.DisassociateAddress)
async def disassociate_address(ctx: Context, req: m.DisassociateAddress) -> dict[str, Any]:
    address_id = address_ids([req.AddressId])[0]
    task_id = AddressBackend(ctx).disassociate(address_id, bool(req.ReallocateNormalPublicIp))
    return {"TaskId": str(task_id)}


@VPC.action("ReleaseAddresses", m.ReleaseAddresses)
async def release_addresses(ctx: Context, req: m.ReleaseAddresses) -> dict[str, Any]:
    return {"TaskId": str(AddressBackend(ctx).release(address_ids(req.AddressIds)))}


@VPC.action("DescribeTaskResult", m.DescribeTaskResult)
async def describe_task_result(ctx: Context, req: m.DescribeTaskResult) -> dict[str, Any]:
    if req.TaskId is None:
        raise errors.missing("TaskId")
    return {"TaskId": req.TaskId, "Result": AddressBackend(ctx).task_result(req.TaskId)}
