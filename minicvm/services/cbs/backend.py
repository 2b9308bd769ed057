"""CBS state: every disk read and write, for one caller in one region. Handlers (handlers.py) give it
checked, typed arguments; it answers with store rows (store/rows.py) or a Tencent-style refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import lifecycle as lc
from minicvm.domain.steps import AttachDisk, CreateDisk, DeleteDisk, DetachDisk, ExpandDisk, ResourceStep
from minicvm.engine import operations as ops
from minicvm.errors import ApiError
from minicvm.services import client_tokens, common, listing
from minicvm.services.cbs.rules import (
    MAX_DATA_DISKS,
    ChargeType,
    DiskState,
    DiskUsage,
    check_size,
    not_elastic,
    refuse_all,
)
from minicvm.services.context import Context
from minicvm.services.owned import Owned, Scope
from minicvm.store.rows import Disk, Instance
from minicvm.store.tables import disks, instances
from minicvm.timefmt import now

DISKS = Owned(disks, Disk, "InvalidDiskId.NotFound", "disk", "disks")

_c = disks.c
# Filters on a column of the disk; the other known filters are in DiskBackend.describe.
FILTER_COLUMNS: dict[str, sa.ColumnElement[Any]] = {
    "disk-usage": _c.usage, "disk-charge-type": _c.charge_type, "disk-id": _c.id, "disk-name": _c.name,
    "disk-type": _c.disk_type, "disk-state": _c.state, "instance-id": _c.instance_id, "zone": _c.zone}


def _of_instances(column: sa.ColumnElement[Any]) -> Callable[[list[str]], listing.Clause]:
    return lambda values: _c.instance_id.in_(sa.select(instances.c.id).where(column.in_(values)))


FILTER_SPECIAL = {
    "portable": lambda values: _c.portable.in_([v.upper() == "TRUE" for v in values]),
    "project-id": lambda values: sa.literal(0).in_([int(v) for v in values if v.isdigit()]),
    "instance-ip-address": _of_instances(instances.c.private_ip),
    "instance-name": _of_instances(instances.c.name),
}


class DiskBackend:
    def __init__(self, ctx: Context) -> None:
        self.cloud = ctx.cloud
        self.scope = Scope(ctx.account.id, ctx.region)
        self.request_id = ctx.request_id

    async def create(self, *, zone: str, disk_type: str, size: int, charge_type: str, names: list[str],
                     client_token: str | None, tags: list[dict[str, str]]) -> list[str]:
        """New unattached elastic disks, one per name; a repeated ClientToken gets the first call's ids."""
        account_id = self.scope.account_id
        with self.cloud.store.write() as conn:
            earlier = client_tokens.remembered(conn, account_id, "CreateDisks", client_token)
            if earlier is not None:
                return list(earlier["DiskIdSet"])
            created, op_ids = [], []
            for name in names:
                disk_id = idmod.new_id("disk")
                conn.execute(disks.insert().values(
                    id=disk_id, account_id=account_id, region=self.scope.region, zone=zone, instance_id=None,
                    usage=DiskUsage.DATA_DISK, disk_type=disk_type, size=size, portable=True,
                    delete_with_instance=False, state=DiskState.UNATTACHED, name=name, charge_type=charge_type,
                    created_time=now(), tags=tags))
                created.append(disk_id)
                op_ids.append(self._operation(conn, "CreateDisks", disk_id, CreateDisk(size)))
            client_tokens.remember(conn, account_id, "CreateDisks", client_token, {"DiskIdSet": created})
        self.cloud.runner.submit(op_ids)
        return created

    def describe(self, *, ids: list[str], filters: dict[str, list[str]], offset: int, limit: int,
                 descending: bool) -> tuple[int, list[Disk]]:
        where = [_c.account_id == self.scope.account_id, _c.region == self.scope.region]
        if ids:
            where.append(_c.id.in_(ids))
        tagged, filters = common.tag_filters(filters)
        where += listing.filter_clauses(filters, FILTER_COLUMNS, FILTER_SPECIAL)
        with self.cloud.store.read() as conn:
            if tagged:
                where.append(common.tag_filtered_ids(conn, disks, where, tagged))
            return listing.page(conn, disks, Disk, where, [_c.seq.desc() if descending else _c.seq], offset, limit)

    def _operation(self, conn: sa.Connection, action: str, disk_id: str, step: ResourceStep) -> str:
        return ops.insert_operation(conn, account_id=self.scope.account_id, resource_id=disk_id, action=action,
                                    steps=[step], request_id=self.request_id)

    def _instance(self, conn: sa.Connection, action: str, instance_id: str) -> Instance:
        """The instance a disk moves to or from, if it may take `action` now with this driver."""
        inst = ops.check_batch(conn, account_id=self.scope.account_id, region=self.scope.region, action=action,
                               instance_ids=[instance_id])[instance_id]
        driver = self.cloud.driver
        if inst.state != lc.STOPPED and not driver.capabilities.hotplug_disks:
            raise ApiError("UnsupportedOperation.InstanceNotStopped",
                           f"{instance_id} must be shut down first: the {driver.name} driver cannot hot-plug disks.")
        return inst

    def attach(self, disk_ids: list[str], instance_id: str, delete_with_instance: bool | None) -> None:
        with self.cloud.store.write() as conn:
            inst = self._instance(conn, "AttachDisks", instance_id)
            rows = DISKS.many(conn, self.scope, disk_ids)
            problems = []
            for disk_id in disk_ids:
                disk = rows[disk_id]
                if (problem := not_elastic(disk)) is not None:
                    problems.append(problem)
                elif disk.state != DiskState.UNATTACHED:
                    code = "ResourceUnavailable.Attached" if disk.instance_id else "InvalidDisk.Busy"
                    problems.append((code, f"{disk_id} is {disk.state}"))
                elif disk.zone != inst.zone:
                    problems.append(("ResourceUnavailable.ZoneNotMatch",
                                     f"{disk_id} is in {disk.zone}, the instance in {inst.zone}"))
                elif delete_with_instance and disk.charge_type != ChargeType.POSTPAID_BY_HOUR:
                    problems.append(("InvalidParameterValue",
                                     f"{disk_id} is prepaid; DeleteWithInstance needs a postpaid disk"))
            refuse_all("attached", problems)
            attached = conn.execute(sa.select(sa.func.count()).select_from(disks).where(
                _c.instance_id == inst.id, _c.usage == DiskUsage.DATA_DISK)).scalar_one()
            if attached + len(disk_ids) > MAX_DATA_DISKS:
                raise ApiError("LimitExceeded.InstanceAttachedDisk",
                               f"An instance takes at most {MAX_DATA_DISKS} data disks; {inst.id} has {attached}.")
            op_ids = []
            for disk_id in disk_ids:
                keep = rows[disk_id].delete_with_instance
                conn.execute(disks.update().where(_c.id == disk_id, _c.state == DiskState.UNATTACHED).values(
                    state=DiskState.ATTACHING, instance_id=inst.id,
                    delete_with_instance=keep if delete_with_instance is None else delete_with_instance))
                op_ids.append(self._operation(conn, "AttachDisks", disk_id, AttachDisk(inst.id)))
        self.cloud.runner.submit(op_ids)

    def detach(self, disk_ids: list[str], instance_id: str | None) -> None:
        with self.cloud.store.write() as conn:
            rows = DISKS.many(conn, self.scope, disk_ids)
            problems = []
            for disk_id in disk_ids:
                disk = rows[disk_id]
                if (problem := not_elastic(disk)) is not None:
                    problems.append(problem)
                elif disk.state != DiskState.ATTACHED:
                    code = "InvalidDisk.NotSupported" if disk.state == DiskState.UNATTACHED else "InvalidDisk.Busy"
                    problems.append((code, f"{disk_id} is {disk.state}"))
                elif instance_id is not None and disk.instance_id != instance_id:
                    problems.append(("InvalidParameterValue",
                                     f"{disk_id} is attached to {disk.instance_id}, not {instance_id}"))
            refuse_all("detached", problems)
            for holder in {rows[d].instance_id for d in disk_ids}:
                assert holder is not None  # every disk was checked ATTACHED
                self._instance(conn, "DetachDisks", holder)
            op_ids = []
            for disk_id in disk_ids:
                conn.execute(disks.update().where(_c.id == disk_id).values(state=DiskState.DETACHING))
                op_ids.append(self._operation(conn, "DetachDisks", disk_id, DetachDisk()))
        self.cloud.runner.submit(op_ids)

    def resize(self, disk_id: str, size: int) -> None:
        with self.cloud.store.write() as conn:
            disk = DISKS.many(conn, self.scope, [disk_id])[disk_id]
            if not disk.portable:
                raise ApiError("ResourceUnavailable.NotPortable",
                               f"{disk_id} is not elastic: grow it with CVM ResizeInstanceDisks.")
            if disk.state not in (DiskState.ATTACHED, DiskState.UNATTACHED):
                raise ApiError("InvalidDisk.Busy", f"{disk_id} is {disk.state}; try again when it settles.")
            if size <= disk.size:
                raise ApiError("InvalidParameterValue",
                               f"`DiskSize` must be larger than the current {disk.size} GiB (disks only grow).")
            check_size(size, disk.disk_type)
            if disk.instance_id and self.cloud.settings.cbs_resize_requires_stop:
                state = conn.execute(sa.select(instances.c.state).where(instances.c.id == disk.instance_id)).scalar()
                if state != lc.STOPPED:
                    raise ApiError("UnsupportedOperation.InstanceNotStopped",
                                   f"{disk_id} is attached to {disk.instance_id}, which must be shut down first.")
            conn.execute(disks.update().where(_c.id == disk_id).values(state=DiskState.EXPANDING))
            op_id = self._operation(conn, "ResizeDisk", disk_id, ExpandDisk(size))
        self.cloud.runner.submit([op_id])

    def modify(self, disk_ids: list[str], *, name: str | None, delete_with_instance: bool | None) -> None:
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if delete_with_instance is not None:
            values["delete_with_instance"] = delete_with_instance
        with self.cloud.store.write() as conn:
            rows = DISKS.many(conn, self.scope, disk_ids)
            if delete_with_instance and any(rows[d].charge_type != ChargeType.POSTPAID_BY_HOUR for d in disk_ids):
                raise ApiError("InvalidParameterValue", "Only postpaid disks can be deleted with their instance.")
            conn.execute(disks.update().where(_c.id.in_(disk_ids)).values(**values))

    async def terminate(self, disk_ids: list[str]) -> None:
        with self.cloud.store.write() as conn:
            rows = DISKS.many(conn, self.scope, disk_ids)
            for disk_id in disk_ids:
                disk = rows[disk_id]
                if not disk.portable:
                    raise ApiError("InvalidDisk.NotPortable",
                                   f"{disk_id} belongs to its instance and goes when the instance is terminated.")
                if disk.state != DiskState.UNATTACHED:
                    raise ApiError("ResourceUnavailable.Attached" if disk.instance_id else "InvalidDisk.Busy",
                                   f"{disk_id} is {disk.state}; detach it first.")
            conn.execute(disks.delete().where(_c.id.in_(disk_ids)))
            op_ids = [self._operation(conn, "TerminateDisks", disk_id, DeleteDisk()) for disk_id in disk_ids]
        self.cloud.runner.submit(op_ids)
