"""VPC state: VPCs, subnets, ClassicLinks and public addresses, for one caller in one region. Handlers
(handlers.py) give it checked, typed arguments; it answers with store rows or a Tencent-style refusal.

Every account has a default VPC and a default subnet per zone; a VPC or subnet in use cannot be deleted.
EIPs and the plain public IPs (WanIP) of instances live in one table, so DescribeInstances and
DescribeAddresses always agree; they come from documentation ranges and are data only."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import lifecycle as lc
from minicvm.domain.states import StoppedMode
from minicvm.domain.steps import BindAddress, CreateAddress, ReleaseAddress, ResourceStep, UnbindAddress
from minicvm.engine import network
from minicvm.engine import operations as ops
from minicvm.errors import ApiError
from minicvm.services import client_tokens, common, listing, quotas
from minicvm.services.context import Context
from minicvm.services.owned import Owned, Scope
from minicvm.store.rows import Address, ClassicLink, Instance, Subnet, Vpc
from minicvm.store.tables import addresses, classic_links, instances, operations, subnets, vpcs
from minicvm.timefmt import now

VPC_QUOTA = 20
EIP_QUOTA = 20

VPCS = Owned(vpcs, Vpc, "ResourceNotFound", "VPC", "VPCs")
# The basic network is kept as hidden subnets (vpc_id ""); they are not the user's subnets.
SUBNETS = Owned(subnets, Subnet, "ResourceNotFound", "subnet", "subnets", only=(subnets.c.vpc_id != "",))
# Plain public IPs are not EIPs: the address actions never touch them.
EIPS = Owned(addresses, Address, "InvalidAddressId.NotFound", "address", "addresses",
             only=(addresses.c.address_type != "WanIP",))
INSTANCES = Owned(instances, Instance, "InvalidInstanceId.NotFound", "instance", "instances")


class AddressStatus(StrEnum):
    CREATING = "CREATING"
    UNBIND = "UNBIND"
    BINDING = "BINDING"
    BIND = "BIND"
    UNBINDING = "UNBINDING"
    OFFLINING = "OFFLINING"


class TaskResult(StrEnum):
    SUCCESS = "SUCCESS"
    RUNNING = "RUNNING"
    FAILED = "FAILED"


def _is_default(column: sa.ColumnElement[Any]) -> Callable[[list[str]], listing.Clause]:
    return lambda values: column.in_([v.lower() == "true" for v in values])


_v, _s, _a = vpcs.c, subnets.c, addresses.c
VPC_FILTERS = {"vpc-name": _v.name, "vpc-id": _v.id, "cidr-block": _v.cidr}
VPC_SPECIAL = {"is-default": _is_default(_v.is_default)}
SUBNET_FILTERS = {"subnet-id": _s.id, "vpc-id": _s.vpc_id, "cidr-block": _s.cidr, "subnet-name": _s.name,
                  "zone": _s.zone}
SUBNET_SPECIAL = {"is-default": _is_default(_s.is_default),
                  "is-remote-vpc-snat": _is_default(sa.literal(False))}
ADDRESS_FILTERS = {"address-id": _a.id, "address-ip": _a.ip, "address-status": _a.status,
                   "instance-id": _a.instance_id, "address-type": _a.address_type}
ADDRESS_SPECIAL = {
    "address-name": lambda values: _a.name == values[0],
    "private-ip-address": lambda values: _a.private_ip == values[0],
    "is-arrears": lambda values: sa.literal("FALSE").in_([v.upper() for v in values]),
    "instance-type": lambda values: sa.and_(_a.instance_id.is_not(None), sa.literal("CVM").in_(values)),
    "address-isp": lambda values: sa.literal("BGP").in_(values),
}


class _Backend:
    def __init__(self, ctx: Context) -> None:
        self.cloud = ctx.cloud
        self.scope = Scope(ctx.account.id, ctx.region)
        self.request_id = ctx.request_id

    def _scoped(self, table: sa.Table) -> list[listing.Clause]:
        return [table.c.account_id == self.scope.account_id, table.c.region == self.scope.region]


class NetworkBackend(_Backend):
    def create_vpc(self, name: str, cidr: ipaddress.IPv4Network) -> Vpc:
        with self.cloud.store.write() as conn:
            network.ensure_default_vpc(conn, self.scope.account_id, self.scope.region)
            if VPCS.count(conn, self.scope) >= VPC_QUOTA:
                raise ApiError("LimitExceeded", f"At most {VPC_QUOTA} VPCs per region.")
            vpc_id = idmod.new_id("vpc")
            conn.execute(vpcs.insert().values(id=vpc_id, account_id=self.scope.account_id, region=self.scope.region,
                                              name=name, cidr=str(cidr), is_default=False, created_time=now()))
            return VPCS.one(conn, self.scope, vpc_id)

    def describe_vpcs(self, ids: list[str], filters: dict[str, list[str]], offset: int,
                      limit: int) -> tuple[int, list[Vpc]]:
        where = self._scoped(vpcs)
        if ids:
            where.append(_v.id.in_(ids))
        where += listing.filter_clauses(filters, VPC_FILTERS, VPC_SPECIAL)
        with self.cloud.store.write() as conn:
            network.ensure_default_vpc(conn, self.scope.account_id, self.scope.region)
            return listing.page(conn, vpcs, Vpc, where, [_v.created_time, _v.id], offset, limit)

    def delete_vpc(self, vpc_id: str) -> None:
        with self.cloud.store.write() as conn:
            VPCS.one(conn, self.scope, vpc_id)
            in_use = conn.execute(sa.select(_s.id).where(_s.vpc_id == vpc_id)).scalars().all()
            if in_use:
                raise ApiError("ResourceInUse", f"The VPC {vpc_id} still has subnets {in_use}; delete them first.")
            conn.execute(vpcs.delete().where(_v.id == vpc_id))

    def create_subnet(self, vpc_id: str, name: str, zone: str, cidr: ipaddress.IPv4Network) -> Subnet:
        with self.cloud.store.write() as conn:
            vpc = VPCS.one(conn, self.scope, vpc_id)
            if not cidr.subnet_of(ipaddress.IPv4Network(vpc.cidr)):
                raise ApiError("InvalidParameterValue.SubnetRange", f"{cidr} is not inside the VPC's {vpc.cidr}.")
            for other in conn.execute(sa.select(_s.id, _s.cidr).where(_s.vpc_id == vpc_id)):
                if cidr.overlaps(ipaddress.IPv4Network(other.cidr)):
                    raise ApiError("InvalidParameterValue.SubnetConflict",
                                   f"{cidr} overlaps {other.id} ({other.cidr}).")
            subnet_id = idmod.new_id("subnet")
            conn.execute(subnets.insert().values(
                id=subnet_id, account_id=self.scope.account_id, vpc_id=vpc_id, region=self.scope.region, zone=zone,
                name=name, cidr=str(cidr), is_default=False, next_host=0, created_time=now()))
            return SUBNETS.one(conn, self.scope, subnet_id)

    def describe_subnets(self, ids: list[str], filters: dict[str, list[str]], offset: int,
                         limit: int) -> tuple[int, list[tuple[Subnet, int]]]:
        """The page of subnets, each with how many of its addresses instances use."""
        where = [*self._scoped(subnets), *SUBNETS.only]
        if ids:
            where.append(_s.id.in_(ids))
        where += listing.filter_clauses(filters, SUBNET_FILTERS, SUBNET_SPECIAL)
        with self.cloud.store.write() as conn:
            network.ensure_default_vpc(conn, self.scope.account_id, self.scope.region)
            total, rows = listing.page(conn, subnets, Subnet, where, [_s.created_time, _s.id], offset, limit)
            used: dict[str, int] = dict(conn.execute(sa.select(instances.c.subnet_id, sa.func.count()).where(
                instances.c.subnet_id.in_([r.id for r in rows])).group_by(instances.c.subnet_id)).all())
        return total, [(r, used.get(r.id, 0)) for r in rows]

    def delete_subnet(self, subnet_id: str) -> None:
        with self.cloud.store.write() as conn:
            SUBNETS.one(conn, self.scope, subnet_id)
            users = conn.execute(sa.select(instances.c.id).where(instances.c.subnet_id == subnet_id)).scalars().all()
            if users:
                raise ApiError("ResourceInUse", f"The subnet {subnet_id} still holds instances {users}.")
            conn.execute(subnets.delete().where(_s.id == subnet_id))

    def _basic_instances(self, conn: sa.Connection, instance_ids: list[str]) -> None:
        rows = INSTANCES.many(conn, self.scope, instance_ids)
        in_vpc = [i for i in instance_ids if rows[i].vpc_id]
        if in_vpc:
            raise ApiError("UnsupportedOperation", f"ClassicLink is for basic-network instances; {in_vpc} are in a VPC.")

    def link_classic(self, vpc_id: str, instance_ids: list[str]) -> None:
        """Basic-network instances linked to a VPC of the same account; a stop keeps the link and
        terminating the instance removes it."""
        with self.cloud.store.write() as conn:
            VPCS.one(conn, self.scope, vpc_id)
            self._basic_instances(conn, instance_ids)
            for instance_id in instance_ids:
                exists = conn.execute(sa.select(classic_links.c.vpc_id).where(
                    classic_links.c.instance_id == instance_id, classic_links.c.vpc_id == vpc_id)).first()
                if not exists:
                    conn.execute(classic_links.insert().values(instance_id=instance_id, vpc_id=vpc_id,
                                                               account_id=self.scope.account_id, created_time=now()))

    def unlink_classic(self, vpc_id: str, instance_ids: list[str]) -> None:
        with self.cloud.store.write() as conn:
            VPCS.one(conn, self.scope, vpc_id)
            self._basic_instances(conn, instance_ids)
            conn.execute(classic_links.delete().where(classic_links.c.vpc_id == vpc_id,
                                                      classic_links.c.instance_id.in_(instance_ids)))

    def describe_classic_links(self, vpc_ids: list[str] | None, private_ips: list[str] | None, offset: int,
                               limit: int) -> tuple[int, list[ClassicLink]]:
        c = classic_links.c
        where: list[listing.Clause] = [c.account_id == self.scope.account_id]
        if vpc_ids is not None:
            where.append(c.vpc_id.in_(vpc_ids))
        if private_ips is not None:
            where.append(c.instance_id.in_(sa.select(instances.c.id).where(instances.c.private_ip.in_(private_ips))))
        with self.cloud.store.read() as conn:
            return listing.page(conn, classic_links, ClassicLink, where, [c.created_time], offset, limit)


class AddressBackend(_Backend):
    def _task(self, conn: sa.Connection, action: str, address_id: str, step: ResourceStep) -> str:
        return ops.insert_operation(conn, account_id=self.scope.account_id, resource_id=address_id, action=action,
                                    steps=[step], request_id=self.request_id)

    @staticmethod
    def _task_id(conn: sa.Connection, op_id: str) -> int:
        """The number VPC's asynchronous actions answer with: the first operation's sequence number."""
        return int(conn.execute(sa.select(operations.c.seq).where(operations.c.id == op_id)).scalar_one())

    def allocate(self, *, count: int, charge_type: str, bandwidth: int, name: str,
                 client_token: str | None, tags: list[dict[str, str]]) -> tuple[list[str], int]:
        """New EIPs and the task creating them; a repeated ClientToken gets the first call's answer."""
        account_id = self.scope.account_id
        with self.cloud.store.write() as conn:
            earlier = client_tokens.remembered(conn, account_id, "AllocateAddresses", client_token)
            if earlier is not None:
                return list(earlier["AddressSet"]), int(earlier["TaskId"])
            held = EIPS.count(conn, self.scope, _a.address_type == "EIP")
            if held + count > EIP_QUOTA:
                raise ApiError("AddressQuotaLimitExceeded",
                               f"An account holds at most {EIP_QUOTA} EIPs per region; it has {held}.")
            quotas.check_public_ips(conn, account_id, self.cloud.settings.quota_public_ips, count,
                                    "AddressQuotaLimitExceeded")
            created, op_ids = [], []
            for _ in range(count):
                address_id = idmod.new_id("eip")
                conn.execute(addresses.insert().values(
                    id=address_id, account_id=account_id, region=self.scope.region, ip=network.free_public_ip(conn),
                    address_type="EIP", status=AddressStatus.CREATING, name=name, instance_id=None, private_ip=None,
                    bandwidth=bandwidth, internet_charge_type=charge_type, created_time=now(), tags=tags))
                created.append(address_id)
                op_ids.append(self._task(conn, "AllocateAddresses", address_id, CreateAddress()))
            task_id = self._task_id(conn, op_ids[0])
            client_tokens.remember(conn, account_id, "AllocateAddresses", client_token,
                            {"AddressSet": created, "TaskId": str(task_id)})
        self.cloud.runner.submit(op_ids)
        return created, task_id

    def describe(self, ids: list[str], filters: dict[str, list[str]], offset: int,
                 limit: int) -> tuple[int, list[Address]]:
        where = self._scoped(addresses)
        if ids:
            where.append(_a.id.in_(ids))
        if "address-type" not in filters:  # plain public IPs are listed only when asked for, as on Tencent
            where.append(_a.address_type == "EIP")
        tagged, filters = common.tag_filters(filters)
        where += listing.filter_clauses(filters, ADDRESS_FILTERS, ADDRESS_SPECIAL)
        with self.cloud.store.read() as conn:
            if tagged:
                where.append(common.tag_filtered_ids(conn, addresses, where, tagged))
            return listing.page(conn, addresses, Address, where, [_a.seq], offset, limit)

    def associate(self, address_id: str, instance_id: str, private_ip: str | None) -> int:
        with self.cloud.store.write() as conn:
            eip = EIPS.many(conn, self.scope, [address_id])[address_id]
            inst = INSTANCES.one(conn, self.scope, instance_id)
            if eip.status != AddressStatus.UNBIND:
                raise ApiError("UnsupportedOperation.AddressStatusNotPermit",
                               f"{address_id} is {eip.status}; only an UNBIND EIP can be bound.")
            refused = lc.refusal("AssociateAddress", inst.id, inst.state, inst.latest_operation_state)
            if refused is not None:
                raise ApiError("UnsupportedOperation.InstanceStateNotSupported", refused.reason)
            if inst.state == lc.STOPPED and inst.stopped_mode == StoppedMode.STOP_CHARGING:
                raise ApiError("UnsupportedOperation.InstanceStatusNotPermit",
                               f"{inst.id} is shut down in STOP_CHARGING mode; an EIP cannot be bound to it.")
            if private_ip is not None and private_ip != inst.private_ip:
                raise ApiError("InvalidParameterValue.PrivateIpAddressNotMatch",
                               f"{private_ip} is not the primary private IP of {inst.id}.")
            other = conn.execute(sa.select(_a.id).where(_a.instance_id == inst.id, _a.address_type == "EIP")).first()
            if other:
                raise ApiError("InvalidInstanceId.AlreadyBindEip",
                               f"{inst.id} already has the EIP {other.id}; unbind it first.")
            # The EIP takes the place of the plain public IP, which is given back.
            network.release_wan_ip(conn, inst.id)
            conn.execute(instances.update().where(instances.c.id == inst.id).values(public_ip_wanted=False))
            conn.execute(addresses.update().where(_a.id == address_id, _a.status == AddressStatus.UNBIND).values(
                status=AddressStatus.BINDING, instance_id=inst.id, private_ip=inst.private_ip))
            op_id = self._task(conn, "AssociateAddress", address_id, BindAddress())
            task_id = self._task_id(conn, op_id)
        self.cloud.runner.submit([op_id])
        return task_id

    def disassociate(self, address_id: str, reallocate_public_ip: bool) -> int:
        with self.cloud.store.write() as conn:
            eip = EIPS.many(conn, self.scope, [address_id])[address_id]
            if eip.status != AddressStatus.BIND:
                raise ApiError("UnsupportedOperation.AddressStatusNotPermit",
                               f"{address_id} is {eip.status}; only a BIND EIP can be unbound.")
            conn.execute(addresses.update().where(_a.id == address_id).values(status=AddressStatus.UNBINDING))
            op_id = self._task(conn, "DisassociateAddress", address_id, UnbindAddress(reallocate_public_ip))
            task_id = self._task_id(conn, op_id)
        self.cloud.runner.submit([op_id])
        return task_id

    def release(self, address_ids: list[str]) -> int:
        with self.cloud.store.write() as conn:
            rows = EIPS.many(conn, self.scope, address_ids)
            busy = [f"{a} is {rows[a].status}" for a in address_ids if rows[a].status != AddressStatus.UNBIND]
            if busy:
                raise ApiError("UnsupportedOperation.AddressStatusNotPermit",
                               "Only UNBIND EIPs can be released; nothing was released: " + "; ".join(busy) + ".")
            op_ids = []
            for address_id in address_ids:
                conn.execute(addresses.update().where(_a.id == address_id).values(status=AddressStatus.OFFLINING))
                op_ids.append(self._task(conn, "ReleaseAddresses", address_id, ReleaseAddress()))
            task_id = self._task_id(conn, op_ids[0])
        self.cloud.runner.submit(op_ids)
        return task_id

    def task_result(self, task_id: int) -> TaskResult:
        """A task is the operations of the request that started it: failed if one failed, running while
        one runs."""
        with self.cloud.store.read() as conn:
            first = conn.execute(sa.select(operations.c.request_id).where(
                operations.c.seq == task_id, operations.c.account_id == self.scope.account_id)).first()
            if first is None:
                raise ApiError("ResourceNotFound", f"The task {task_id} does not exist.")
            states = set(conn.execute(sa.select(operations.c.state).where(
                operations.c.request_id == first.request_id)).scalars())
        if lc.FAILED in states:
            return TaskResult.FAILED
        return TaskResult.RUNNING if lc.OPERATING in states else TaskResult.SUCCESS
