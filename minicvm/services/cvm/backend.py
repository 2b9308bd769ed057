"""CVM state for one caller in one region: listing instances (with their disks and public IPs), polling
their states, accepting power and change actions for the runner, and SSH key pairs. Handlers give it
checked, typed arguments; it answers with store rows or small records of them, or a Tencent-style
refusal. The polling and accepting paths run prepared statements (store/statements.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import keys
from minicvm.domain import lifecycle as lc
from minicvm.domain.catalog import DATA_DISK_RANGE, DISK_STEP, SYSTEM_DISK_RANGE, zone_index
from minicvm.domain.states import FORCED_STOP_TYPE
from minicvm.domain.steps import GrowDisk
from minicvm.engine import network
from minicvm.engine import operations as ops
from minicvm.engine.launch import LaunchPlan, insert_instances
from minicvm.errors import ApiError
from minicvm.services import client_tokens, common, listing, quotas
from minicvm.services.context import Context
from minicvm.services.owned import Owned, Scope
from minicvm.services.vpc.security_groups import GROUPS_PER_INSTANCE, check_groups_exist
from minicvm.store import statements
from minicvm.store.rows import Disk, Instance, KeyPair, Subnet, Vpc, fetch
from minicvm.store.statements import InstanceStatus
from minicvm.store.tables import addresses, disks, instances, key_pairs, subnets, vpcs
from minicvm.timefmt import now

KEY_LIMIT = 100
# System disk types whose size can change.
RESIZABLE_SYSTEM_TYPES = ("CLOUD_BASIC", "CLOUD_PREMIUM", "CLOUD_SSD", "CLOUD_BSSD")
KEY_PAIRS = Owned(key_pairs, KeyPair, "InvalidKeyPairId.NotFound", "key pair", "key pairs")
# RunInstances names missing keys with its own code.
LAUNCH_KEY_PAIRS = Owned(key_pairs, KeyPair, "InvalidParameterValue.KeyPairNotFound", "key pair", "key pairs")
VPCS = Owned(vpcs, Vpc, "InvalidParameterValue.VpcIdNotExist", "VPC", "VPCs")

_i = instances.c


class InstanceDisk(NamedTuple):
    """A disk as an instance listing shows it."""

    id: str
    instance_id: str
    usage: str
    disk_type: str
    size: int
    delete_with_instance: bool


@dataclass(frozen=True)
class InstanceQuery:
    """DescribeInstances' selection: ids, the filters the store answers, and those checked row by row."""

    ids: list[str]
    filters: dict[str, list[str]]
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class InstancePage:
    total: int
    rows: list[Instance]
    disks: dict[str, list[InstanceDisk]]
    public_ips: dict[str, list[str]]


FILTER_COLUMNS: dict[str, sa.ColumnElement[Any]] = {
    "zone": _i.zone, "vpc-id": _i.vpc_id, "subnet-id": _i.subnet_id, "instance-id": _i.id, "uuid": _i.uuid,
    "instance-charge-type": _i.charge_type, "instance-state": _i.state, "private-ip-address": _i.private_ip}
FILTER_SPECIAL = {
    "project-id": lambda values: _i.project_id.in_([int(v) for v in values if v.lstrip("-").isdigit()]),
    "instance-name": lambda values: sa.or_(*[_i.name.contains(v, autoescape=True) for v in values]),
    "public-ip-address": lambda values: _i.id.in_(sa.select(addresses.c.instance_id).where(addresses.c.ip.in_(values))),
}
# Filters on lists inside the row (security groups, tags): checked row by row, not in SQL.
IN_PYTHON = ("security-group-id", "tag-key", "tag-value")


def _row_matches(row: Instance, checks: dict[str, list[str]]) -> bool:
    sgs = checks.get("security-group-id")
    if sgs is not None and not set(sgs) & set(row.security_group_ids):
        return False
    return common.tags_match(list(row.tags), {k: v for k, v in checks.items() if k.startswith("tag")})


def _disks_by_instance(conn: sa.Connection, instance_ids: list[str]) -> dict[str, list[InstanceDisk]]:
    result: dict[str, list[InstanceDisk]] = {}
    if not instance_ids:
        return result
    d = disks.c
    stmt = (sa.select(d.id, d.instance_id, d.usage, d.disk_type, d.size, d.delete_with_instance)
            .where(d.instance_id.in_(instance_ids)).order_by(d.seq))
    for row in fetch(conn, InstanceDisk, stmt):
        result.setdefault(row.instance_id, []).append(row)
    return result


# VirtualPrivateCloud's "DEFAULT" for both ids: the account's default VPC and the zone's default subnet.
DEFAULT_NETWORK = "DEFAULT"


@dataclass(frozen=True)
class NetworkChoice:
    """Where RunInstances places its instances: the basic network (vpc_id None), the default VPC
    (DEFAULT_NETWORK) or a given VPC and subnet; and the private IP wanted for each, if any."""

    vpc_id: str | None
    subnet_id: str | None
    wanted_ips: list[str | None]


class _DryRunPassed(Exception):
    """Raised inside the transaction so that whatever the checks created is rolled back."""


class InstanceBackend:
    def __init__(self, ctx: Context) -> None:
        self.cloud = ctx.cloud
        self.scope = Scope(ctx.account.id, ctx.region)
        self.request_id = ctx.request_id

    def describe(self, query: InstanceQuery, offset: int, limit: int) -> InstancePage:
        where = [_i.account_id == self.scope.account_id, _i.region == self.scope.region]
        in_python = {k: v for k, v in query.filters.items() if k in IN_PYTHON or k.startswith("tag:")}
        in_sql = {k: v for k, v in query.filters.items() if k not in in_python}
        where += listing.filter_clauses(in_sql, FILTER_COLUMNS, FILTER_SPECIAL)
        if query.since is not None:
            where.append(_i.created_time >= query.since)
        if query.until is not None:
            where.append(_i.created_time <= query.until)
        if query.ids:
            where.append(_i.id.in_(query.ids))
        with self.cloud.store.read() as conn:
            if in_python:
                matching = [r for r in fetch(conn, Instance, sa.select(instances).where(*where).order_by(_i.seq))
                            if _row_matches(r, in_python)]
                total, page = len(matching), matching[offset: offset + limit]
            else:
                total, page = listing.page(conn, instances, Instance, where, [_i.seq], offset, limit)
            ids = [r.id for r in page]
            return InstancePage(total, page, _disks_by_instance(conn, ids), network.public_ips(conn, ids))

    def _place(self, conn: sa.Connection, choice: NetworkChoice, zone: str) -> tuple[str | None, str]:
        """(VPC id, or None for the basic network; subnet id)."""
        account_id, region = self.scope.account_id, self.scope.region
        if choice.vpc_id is None:
            return None, self._basic_subnet(conn, zone)
        if choice.vpc_id == DEFAULT_NETWORK:
            return network.default_subnet(conn, account_id, region, zone)
        network.ensure_default_vpc(conn, account_id, region)
        VPCS.one(conn, self.scope, choice.vpc_id)
        subnet = fetch(conn, Subnet, sa.select(subnets).where(subnets.c.id == choice.subnet_id,
                                                              subnets.c.account_id == account_id))
        if not subnet:
            raise ApiError("InvalidParameterValue.SubnetNotExist", f"The subnet {choice.subnet_id} does not exist.")
        if subnet[0].vpc_id != choice.vpc_id:
            raise ApiError("InvalidParameterValue.VpcIdSubnetIdNotMatch",
                           f"The subnet {choice.subnet_id} is not in the VPC {choice.vpc_id}.")
        if subnet[0].zone != zone:
            raise ApiError("InvalidParameterValue.SubnetIdZoneIdNotMatch",
                           f"The subnet {choice.subnet_id} is in {subnet[0].zone}, not in {zone}.")
        return choice.vpc_id, subnet[0].id

    def _basic_subnet(self, conn: sa.Connection, zone: str) -> str:
        """The basic (classic) network is modelled as a hidden subnet per account and zone."""
        account_id = self.scope.account_id
        row = conn.execute(sa.select(subnets.c.id).where(
            subnets.c.account_id == account_id, subnets.c.zone == zone, subnets.c.vpc_id == "")).first()
        if row:
            return str(row.id)
        subnet_id = idmod.new_id("subnet")
        conn.execute(subnets.insert().values(
            id=subnet_id, account_id=account_id, vpc_id="", region=self.scope.region, zone=zone,
            name="basic-network", cidr=f"10.{128 + zone_index(zone)}.0.0/16", is_default=False, next_host=0,
            created_time=now()))
        return subnet_id

    def launch(self, plan: LaunchPlan, choice: NetworkChoice, *, client_token: str | None,
               dry_run: bool) -> list[str]:
        """RunInstances: the instances, their disks, addresses and launch operations in one transaction (none
        on a dry run, which still runs every check); a repeated ClientToken gets the first call's ids."""
        account_id, settings = self.scope.account_id, self.cloud.settings
        count = len(plan.names)
        try:
            with self.cloud.store.write() as conn:
                earlier = client_tokens.remembered(conn, account_id, "RunInstances", client_token)
                if earlier is not None:
                    return list(earlier["InstanceIdSet"])
                if plan.key_ids:
                    LAUNCH_KEY_PAIRS.many(conn, self.scope, plan.key_ids)
                if plan.security_group_ids:
                    check_groups_exist(conn, self.scope, plan.security_group_ids)
                plan.vpc_id, plan.subnet_id = self._place(conn, choice, plan.zone)
                plan.wanted_ips = choice.wanted_ips
                quotas.check_instances(conn, account_id, settings.quota_instances, count)
                if plan.wants_public_ip:
                    quotas.check_public_ips(conn, account_id, settings.quota_public_ips, count,
                                            "InvalidParameterValue.ExternalIpQuotaLimited")
                if dry_run:
                    raise _DryRunPassed
                created, op_ids = insert_instances(conn, self.cloud.guests, account_id, self.scope.region, plan,
                                                   self.request_id)
                client_tokens.remember(conn, account_id, "RunInstances", client_token, {"InstanceIdSet": created})
        except _DryRunPassed:
            return []
        self.cloud.runner.submit(op_ids)
        return created

    def status(self, ids: list[str], offset: int, limit: int) -> tuple[int, list[InstanceStatus]]:
        scope = {"account_id": self.scope.account_id, "region": self.scope.region}
        with self.cloud.store.read() as conn:
            if ids:
                # At most 100 ids: fetch them all and page here, the count comes for free.
                rows = statements.STATUS_OF.all(conn, **scope, ids=list(dict.fromkeys(ids)))
                return len(rows), rows[offset:offset + limit]
            total = statements.STATUS_COUNT.scalar(conn, **scope)
            return total, statements.STATUS_PAGE.all(conn, **scope, offset=offset, limit=limit)

    def accept(self, action: str, ids: list[str], *, params: lc.Params = None, forced: bool = False,
               extra: ops.Check | None = None) -> None:
        """Accept an instance action for a whole batch (or none of it) and hand it to the runner."""
        with self.cloud.store.write() as conn:
            accepted = ops.accept(conn, account_id=self.scope.account_id, region=self.scope.region, action=action,
                                  instance_ids=ids, request_id=self.request_id, params=params, forced=forced,
                                  extra=extra)
        self.cloud.runner.submit(accepted.operation_ids)

    def disk_types(self, ids: list[str], usage: str | None = None) -> dict[str, list[str]]:
        """Each instance's disk types (only its system disk's, with usage="SYSTEM_DISK")."""
        where: list[listing.Clause] = [disks.c.instance_id.in_(ids)]
        if usage is not None:
            where.append(disks.c.usage == usage)
        with self.cloud.store.read() as conn:
            result: dict[str, list[str]] = {}
            for row in conn.execute(sa.select(disks.c.instance_id, disks.c.disk_type).where(*where)):
                result.setdefault(row.instance_id, []).append(row.disk_type)
        return result

    def charge_types(self, ids: list[str]) -> set[str]:
        with self.cloud.store.read() as conn:
            return set(conn.execute(sa.select(_i.charge_type).where(
                _i.id.in_(ids), _i.account_id == self.scope.account_id)).scalars())


    def _growable_disk(self, conn: sa.Connection, instance_id: str, disk_id: str | None, size: int,
                       field: str) -> Disk | None:
        """The instance's disk that ResizeInstanceDisks would grow to `size`, or a Tencent-style refusal."""
        own = {r.id: r for r in fetch(conn, Disk, sa.select(disks).where(
            disks.c.instance_id == instance_id, disks.c.account_id == self.scope.account_id))}
        if disk_id is None:
            disk = next((d for d in own.values() if d.usage == "SYSTEM_DISK"), None)
            (lo, hi), step = SYSTEM_DISK_RANGE, 1
            if disk is not None and disk.disk_type not in RESIZABLE_SYSTEM_TYPES:
                raise ApiError("UnsupportedOperation.InvalidDisk", f"A {disk.disk_type} system disk cannot be resized.")
        else:
            disk = own.get(disk_id)
            if disk is not None and (disk.portable or disk.usage != "DATA_DISK"):
                raise ApiError("UnsupportedOperation.InvalidDataDisk",
                               f"{disk_id} is an elastic disk: grow it with CBS ResizeDisk.")
            (lo, hi), step = DATA_DISK_RANGE, DISK_STEP
        if disk is None and own:
            raise ApiError("InvalidParameterValue", f"The disk is not a disk of {instance_id}.")
        if disk is not None:
            if size <= disk.size:
                raise ApiError("InvalidParameterValue",
                               f"`{field}` must be larger than the current {disk.size} GiB (disks only grow).")
            if size > hi or size < lo or size % step:
                raise ApiError("InvalidParameterValue.Range", f"`{field}` must be {lo}-{hi} GiB in steps of {step}.")
        return disk

    def disk_to_grow(self, instance_id: str, disk_id: str | None, size: int, field: str) -> Disk:
        """InquiryPriceResizeInstanceDisks: the disk ResizeInstanceDisks would grow, after the same checks."""
        with self.cloud.store.read() as conn:
            disk = self._growable_disk(conn, instance_id, disk_id, size, field)
        if disk is None:
            raise ApiError("InvalidInstanceId.NotFound", f"The instance {instance_id} does not exist.")
        return disk

    def grow_disk(self, instance_id: str, disk_id: str | None, size: int, field: str, *, forced: bool,
                  online: bool) -> None:
        """ResizeInstanceDisks: grow the instance's system disk (disk_id None) or one of its own data disks;
        `field` names the size in messages."""
        with self.cloud.store.write() as conn:
            disk = self._growable_disk(conn, instance_id, disk_id, size, field)
            accepted = ops.accept(
                conn, account_id=self.scope.account_id, region=self.scope.region, action="ResizeInstanceDisks",
                instance_ids=[instance_id], request_id=self.request_id, forced=forced or online,
                params=GrowDisk(disk.id if disk else None, size, online),
            )
            if disk is not None:
                conn.execute(disks.update().where(disks.c.id == disk.id).values(state="EXPANDING"))
        self.cloud.runner.submit(accepted.operation_ids)

    def check_key_pairs(self, key_ids: list[str]) -> None:
        with self.cloud.store.read() as conn:
            KEY_PAIRS.many(conn, self.scope, key_ids)

    def modify_attributes(self, ids: list[str], attribute: str, values: dict[str, Any], *,
                          reboot_running: bool) -> None:
        """ModifyInstancesAttribute: the new values at once; running instances reboot when the change only
        takes effect at boot (a host name, with AutoReboot). LatestOperation names the attribute changed, as
        Tencent reports it (`ModifyInstancesAttribute.InstanceName`)."""
        with self.cloud.store.write() as conn:
            found = ops.check_batch(conn, account_id=self.scope.account_id, region=self.scope.region,
                                    action="ModifyInstancesAttribute", instance_ids=ids)
            if "security_group_ids" in values:
                check_groups_exist(conn, self.scope, values["security_group_ids"])
            conn.execute(instances.update().where(_i.id.in_(ids)).values(
                **values, latest_operation=f"ModifyInstancesAttribute.{attribute}", latest_operation_state=lc.SUCCESS,
                latest_operation_request_id=self.request_id, latest_operation_error=None))
            running = [i for i in ids if found[i].state == lc.RUNNING]
            op_ids: list[str] = []
            if reboot_running and running:
                accepted = ops.accept(conn, account_id=self.scope.account_id, region=self.scope.region,
                                      action="ModifyInstancesAttribute", instance_ids=running,
                                      request_id=self.request_id, params=lc.RebootRequest(FORCED_STOP_TYPE))
                op_ids = accepted.operation_ids
        if "security_group_ids" in values:
            self.cloud.firewall.push(self.scope.account_id)
        self.cloud.runner.submit(op_ids)

    def bind_security_group(self, ids: list[str], group_id: str, *, bind: bool) -> None:
        """AssociateSecurityGroups (appended: groups match in binding order) or DisassociateSecurityGroups."""
        action = lc.Action.ASSOCIATE_SECURITY_GROUPS if bind else lc.Action.DISASSOCIATE_SECURITY_GROUPS
        with self.cloud.store.write() as conn:
            found = ops.check_batch(conn, account_id=self.scope.account_id, region=self.scope.region,
                                    action=action, instance_ids=ids)
            check_groups_exist(conn, self.scope, [group_id])
            for instance_id in ids:
                bound = list(found[instance_id].security_group_ids)
                if bind and group_id not in bound:
                    if len(bound) >= GROUPS_PER_INSTANCE:
                        raise ApiError("LimitExceeded.AssociateUSGLimitExceeded",
                                       f"{instance_id} already has {len(bound)} security groups; the most is "
                                       f"{GROUPS_PER_INSTANCE}.")
                    bound.append(group_id)
                elif not bind:
                    if group_id not in bound:
                        raise ApiError("FailedOperation.SecurityGroupActionFailed",
                                       f"{group_id} is not bound to {instance_id}.")
                    if len(bound) == 1:
                        raise ApiError("FailedOperation.SecurityGroupActionFailed",
                                       f"{group_id} is the only security group of {instance_id}; bind another first.")
                    bound.remove(group_id)
                conn.execute(instances.update().where(_i.id == instance_id).values(
                    security_group_ids=bound, latest_operation=str(action), latest_operation_state=lc.SUCCESS,
                    latest_operation_request_id=self.request_id, latest_operation_error=None))
        self.cloud.firewall.push(self.scope.account_id)

@dataclass(frozen=True)
class KeyPairListing:
    row: KeyPair
    associated: list[str]  # the instances it is bound to


class KeyPairBackend:
    """SSH key pairs belong to the account, in every region."""

    def __init__(self, ctx: Context) -> None:
        self.cloud = ctx.cloud
        self.scope = Scope(ctx.account.id, ctx.region)

    def _name_free(self, conn: sa.Connection, name: str) -> None:
        if conn.execute(sa.select(key_pairs.c.id).where(key_pairs.c.account_id == self.scope.account_id,
                                                        key_pairs.c.name == name)).first():
            raise ApiError("InvalidKeyPairName.Duplicate", f"A key pair named {name!r} already exists.")

    def _insert(self, conn: sa.Connection, name: str, public_key: str, key_id: str | None = None) -> str:
        if KEY_PAIRS.count(conn, self.scope) >= KEY_LIMIT:
            raise ApiError("InvalidKeyPair.LimitExceeded", f"An account may hold at most {KEY_LIMIT} key pairs.")
        key_id = key_id or idmod.new_id("skey")
        conn.execute(key_pairs.insert().values(
            id=key_id, account_id=self.scope.account_id, name=name, project_id=0, description="",
            public_key=public_key, fingerprint=keys.fingerprint(public_key), created_time=now()))
        return key_id

    def _associated(self, conn: sa.Connection) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for row in conn.execute(sa.select(_i.id, _i.key_ids).where(_i.account_id == self.scope.account_id)):
            for key_id in row.key_ids:
                result.setdefault(key_id, []).append(row.id)
        return result

    def create(self, name: str) -> tuple[KeyPair, str, str]:
        """A new key pair: its row, the public key as shown once (with its id as comment) and the private key,
        which is never stored."""
        with self.cloud.store.write() as conn:
            self._name_free(conn, name)
            key_id = idmod.new_id("skey")
            public, private = keys.generate(key_id)
            public_key = " ".join(public.split()[:2])
            key_id = self._insert(conn, name, public_key)
            row = KEY_PAIRS.one(conn, self.scope, key_id)
        return row, f"{public_key} {key_id}", private

    def import_key(self, name: str, public_key: str) -> str:
        with self.cloud.store.write() as conn:
            self._name_free(conn, name)
            if conn.execute(sa.select(key_pairs.c.id).where(key_pairs.c.account_id == self.scope.account_id,
                                                            key_pairs.c.public_key == public_key)).first():
                raise ApiError("InvalidPublicKey.Duplicate", "This public key has already been imported.")
            return self._insert(conn, name, public_key)

    def describe(self, ids: list[str], filters: dict[str, list[str]], offset: int,
                 limit: int) -> tuple[int, list[KeyPairListing]]:
        c = key_pairs.c
        where = [c.account_id == self.scope.account_id]
        if ids:
            where.append(c.id.in_(ids))
        special = {"project-id": lambda values: c.project_id.in_([int(v) for v in values if v.isdigit()])}
        where += listing.filter_clauses(filters, {"key-name": c.name}, special)  # no tags on key pairs here
        with self.cloud.store.read() as conn:
            total, rows = listing.page(conn, key_pairs, KeyPair, where, [c.seq], offset, limit)
            associated = self._associated(conn)
        return total, [KeyPairListing(r, associated.get(r.id, [])) for r in rows]

    def modify(self, key_id: str, name: str | None, description: str | None) -> None:
        with self.cloud.store.write() as conn:
            row = KEY_PAIRS.one(conn, self.scope, key_id)
            values: dict[str, Any] = {}
            if name is not None and name != row.name:
                self._name_free(conn, name)
                values["name"] = name
            if description is not None:
                values["description"] = description
            if values:
                conn.execute(key_pairs.update().where(key_pairs.c.id == key_id).values(**values))

    def delete(self, key_ids: list[str]) -> None:
        with self.cloud.store.write() as conn:
            found = KEY_PAIRS.many(conn, self.scope, key_ids)
            bound = {k: v for k, v in self._associated(conn).items() if k in found}
            if bound:
                raise ApiError("InvalidParameterValue.KeyPairNotSupported",
                               f"Key pairs still bound to instances cannot be deleted: {bound}.")
            conn.execute(key_pairs.delete().where(key_pairs.c.id.in_(key_ids)))

