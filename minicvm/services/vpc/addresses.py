"""Public addresses: EIPs (allocated, bound, unbound, released) and the plain public IPs (WanIP) that
instances get. Both live in one table, so DescribeInstances and DescribeAddresses always agree.
Addresses come from documentation ranges and are data only: nothing ever connects to them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import lifecycle as lc
from minicvm.engine import network
from minicvm.engine import operations as ops
from minicvm.engine import resource_steps as steps
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.vpc import models as m
from minicvm.services.vpc.service import VPC
from minicvm.store.tables import addresses, instances, operations
from minicvm.timefmt import iso, now

EIP_QUOTA = 20
CHARGE_TYPES = {"TRAFFIC_POSTPAID_BY_HOUR": 100, "BANDWIDTH_POSTPAID_BY_HOUR": 100, "BANDWIDTH_PREPAID_BY_MONTH": 200,
                "BANDWIDTH_PACKAGE": 2000}
ADDRESS_FILTERS = ("address-id", "address-name", "address-ip", "address-status", "instance-id", "private-ip-address",
                   "network-interface-id", "is-arrears", "instance-type", "address-type", "address-isp",
                   "dedicated-cluster-id", "tag-key", "tag-value")


def address_view(row: Any) -> dict[str, Any]:
    return {
        "AddressId": row.id, "AddressName": row.name, "AddressStatus": row.status, "AddressIp": row.ip,
        "InstanceId": row.instance_id, "CreatedTime": iso(row.created_time), "NetworkInterfaceId": None,
        "PrivateAddressIp": row.private_ip, "IsArrears": False, "IsBlocked": False, "IsEipDirectConnection": False,
        "AddressType": row.address_type, "CascadeRelease": row.address_type == "WanIP",
        "EipAlgType": {"Ftp": False, "Sip": False}, "InternetServiceProvider": "BGP", "LocalBgp": False,
        "Bandwidth": row.bandwidth, "InternetChargeType": row.internet_charge_type, "TagSet": [],
        "DeadlineDate": None, "InstanceType": "CVM" if row.instance_id else None,
    }


def address_ids(values: list[str] | None, required: bool = True) -> list[str]:
    return common.check_ids(values, "eip", "AddressIds", "InvalidParameterValue.AddressIdMalformed",
                            required=required)


def _owned(conn: sa.Connection, ctx: Context, wanted: list[str]) -> dict[str, Any]:
    rows = {r.id: r for r in conn.execute(sa.select(addresses).where(
        addresses.c.account_id == ctx.account.id, addresses.c.region == ctx.region, addresses.c.id.in_(wanted),
        addresses.c.address_type != "WanIP"))}
    missing = [a for a in wanted if a not in rows]
    if missing:
        raise ApiError("InvalidAddressId.NotFound", f"The addresses {missing} do not exist.")
    return rows


def _task(conn: sa.Connection, ctx: Context, action: str, address_id: str, step: str,
          params: dict[str, Any] | None = None) -> str:
    return ops.insert_operation(conn, account_id=ctx.account.id, resource_id=address_id, action=action,
                                steps=[step], params=params or {}, request_id=ctx.request_id)


def _task_id(conn: sa.Connection, op_id: str) -> str:
    return str(conn.execute(sa.select(operations.c.seq).where(operations.c.id == op_id)).scalar_one())


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
    with ctx.cloud.store.write() as conn:
        earlier = common.remembered(conn, ctx.account.id, "AllocateAddresses", req.ClientToken)
        if earlier is not None:
            return earlier
        held = conn.execute(sa.select(sa.func.count()).select_from(addresses).where(
            addresses.c.account_id == ctx.account.id, addresses.c.region == ctx.region,
            addresses.c.address_type == "EIP")).scalar_one()
        if held + count > EIP_QUOTA:
            raise ApiError("AddressQuotaLimitExceeded", f"An account holds at most {EIP_QUOTA} EIPs per region; it has {held}.")
        created, op_ids = [], []
        for _ in range(count):
            address_id = idmod.new_id("eip")
            conn.execute(addresses.insert().values(
                id=address_id, account_id=ctx.account.id, region=ctx.region, ip=network.free_public_ip(conn),
                address_type="EIP", status="CREATING", name=name, instance_id=None, private_ip=None,
                bandwidth=bandwidth, internet_charge_type=charge, created_time=now()))
            created.append(address_id)
            op_ids.append(_task(conn, ctx, "AllocateAddresses", address_id, steps.EIP_CREATE))
        response = {"AddressSet": created, "TaskId": _task_id(conn, op_ids[0])}
        common.remember(conn, ctx.account.id, "AllocateAddresses", req.ClientToken, response)
    ctx.cloud.runner.submit(op_ids)
    return response


@VPC.action("DescribeAddresses", m.DescribeAddresses)
async def describe_addresses(ctx: Context, req: m.DescribeAddresses) -> dict[str, Any]:
    wanted = address_ids(req.AddressIds, required=False)
    filters = common.check_filters(req.Filters, ADDRESS_FILTERS, unknown_code="InvalidParameter.InvalidFilter",
                                   max_values=100, values_code="InvalidParameterValue.LimitExceeded")
    if wanted and "address-id" in filters:
        raise ApiError("InvalidParameter", "`AddressIds` and the `address-id` filter cannot be used together.")
    offset, limit = common.paging(req.Offset, req.Limit)
    c = addresses.c
    where: list[Any] = [c.account_id == ctx.account.id, c.region == ctx.region]
    if wanted:
        where.append(c.id.in_(wanted))
    # Plain public IPs are listed only when address-type asks for them (as on Tencent).
    where.append(c.address_type.in_(filters.get("address-type", ["EIP"])))
    columns = {"address-id": c.id, "address-ip": c.ip, "address-status": c.status, "instance-id": c.instance_id}
    for name, values in filters.items():
        if name in columns:
            where.append(columns[name].in_(values))
        elif name in ("address-name", "private-ip-address"):
            where.append((c.name if name == "address-name" else c.private_ip) == values[0])
        elif name == "is-arrears":
            where.append(sa.literal("FALSE").in_([v.upper() for v in values]))
        elif name == "instance-type":
            where.append(sa.and_(c.instance_id.is_not(None), sa.literal("CVM").in_(values)))
        elif name == "address-isp":
            where.append(sa.literal("BGP").in_(values))
        elif name != "address-type":
            where.append(sa.false())
    with ctx.cloud.store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(addresses).where(*where)).scalar_one()
        rows = conn.execute(sa.select(addresses).where(*where).order_by(c.seq).offset(offset).limit(limit))
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
    with ctx.cloud.store.write() as conn:
        eip = _owned(conn, ctx, [address_id])[address_id]
        inst = conn.execute(sa.select(instances).where(instances.c.id == req.InstanceId,
                                                       instances.c.account_id == ctx.account.id,
                                                       instances.c.region == ctx.region)).first()
        if inst is None:
            raise ApiError("InvalidInstanceId.NotFound", f"The instance {req.InstanceId} does not exist.")
        if eip.status != "UNBIND":
            raise ApiError("UnsupportedOperation.AddressStatusNotPermit",
                           f"{address_id} is {eip.status}; only an UNBIND EIP can be bound.")
        refused = lc.refusal("AssociateAddress", inst.id, inst.state, inst.latest_operation_state)
        if refused is not None:
            raise ApiError("UnsupportedOperation.InstanceStateNotSupported", refused.reason)
        if inst.state == lc.STOPPED and inst.stopped_mode == "STOP_CHARGING":
            raise ApiError("UnsupportedOperation.InstanceStatusNotPermit",
                           f"{inst.id} is shut down in STOP_CHARGING mode; an EIP cannot be bound to it.")
        if req.PrivateIpAddress is not None and req.PrivateIpAddress != inst.private_ip:
            raise ApiError("InvalidParameterValue.PrivateIpAddressNotMatch",
                           f"{req.PrivateIpAddress} is not the primary private IP of {inst.id}.")
        other = conn.execute(sa.select(addresses.c.id).where(addresses.c.instance_id == inst.id,
                                                             addresses.c.address_type == "EIP")).first()
        if other:
            raise ApiError("InvalidInstanceId.AlreadyBindEip", f"{inst.id} already has the EIP {other.id}; unbind it first.")
        # The EIP takes the place of the plain public IP, which is given back.
        network.release_wan_ip(conn, inst.id)
        conn.execute(instances.update().where(instances.c.id == inst.id).values(public_ip_wanted=False))
        conn.execute(addresses.update().where(addresses.c.id == address_id, addresses.c.status == "UNBIND").values(
            status="BINDING", instance_id=inst.id, private_ip=inst.private_ip))
        op_id = _task(conn, ctx, "AssociateAddress", address_id, steps.EIP_BIND)
        task_id = _task_id(conn, op_id)
    ctx.cloud.runner.submit([op_id])
    return {"TaskId": task_id}


@VPC.action("DisassociateAddress", m.DisassociateAddress)
async def disassociate_address(ctx: Context, req: m.DisassociateAddress) -> dict[str, Any]:
    address_id = address_ids([req.AddressId])[0]
    with ctx.cloud.store.write() as conn:
        eip = _owned(conn, ctx, [address_id])[address_id]
        if eip.status != "BIND":
            raise ApiError("UnsupportedOperation.AddressStatusNotPermit",
                           f"{address_id} is {eip.status}; only a BIND EIP can be unbound.")
        conn.execute(addresses.update().where(addresses.c.id == address_id).values(status="UNBINDING"))
        op_id = _task(conn, ctx, "DisassociateAddress", address_id, steps.EIP_UNBIND,
                      {"reallocate": bool(req.ReallocateNormalPublicIp)})
        task_id = _task_id(conn, op_id)
    ctx.cloud.runner.submit([op_id])
    return {"TaskId": task_id}


@VPC.action("ReleaseAddresses", m.ReleaseAddresses)
async def release_addresses(ctx: Context, req: m.ReleaseAddresses) -> dict[str, Any]:
    wanted = address_ids(req.AddressIds)
    with ctx.cloud.store.write() as conn:
        rows = _owned(conn, ctx, wanted)
        busy = [f"{a} is {rows[a].status}" for a in wanted if rows[a].status != "UNBIND"]
        if busy:
            raise ApiError("UnsupportedOperation.AddressStatusNotPermit",
                           "Only UNBIND EIPs can be released; nothing was released: " + "; ".join(busy) + ".")
        op_ids = []
        for address_id in wanted:
            conn.execute(addresses.update().where(addresses.c.id == address_id).values(status="OFFLINING"))
            op_ids.append(_task(conn, ctx, "ReleaseAddresses", address_id, steps.EIP_RELEASE))
        task_id = _task_id(conn, op_ids[0])
    ctx.cloud.runner.submit(op_ids)
    return {"TaskId": task_id}


@VPC.action("DescribeTaskResult", m.DescribeTaskResult)
async def describe_task_result(ctx: Context, req: m.DescribeTaskResult) -> dict[str, Any]:
    if req.TaskId is None:
        raise ApiError("MissingParameter", "The request is missing a required parameter `TaskId`.")
    with ctx.cloud.store.read() as conn:
        first = conn.execute(sa.select(operations).where(operations.c.seq == req.TaskId,
                                                         operations.c.account_id == ctx.account.id)).first()
        if first is None:
            raise ApiError("ResourceNotFound", f"The task {req.TaskId} does not exist.")
        states = set(conn.execute(sa.select(operations.c.state).where(
            operations.c.request_id == first.request_id)).scalars())
    result = "FAILED" if lc.FAILED in states else "RUNNING" if lc.OPERATING in states else "SUCCESS"
    return {"TaskId": req.TaskId, "Result": result}
