"""The "apply while stopped" step: what ResetInstancesType, ResizeInstanceDisks,
ResetInstancesPassword and the key-pair actions change, in the store and in the guest's disk.
Which change it is comes typed in the Apply step (domain/steps.py)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm.domain.catalog import INSTANCE_TYPES
from minicvm.domain.steps import BindKeys, Change, ChangeInstanceType, GrowDisk, ResetPassword, UnbindKeys
from minicvm.drivers.base import Driver, PowerState, StoppedChanges
from minicvm.engine.guest_spec import build_spec
from minicvm.store.db import Store
from minicvm.store.tables import disks, instances, key_pairs


def _public_keys(conn: sa.Connection, key_ids: list[str]) -> tuple[str, ...]:
    rows = conn.execute(sa.select(key_pairs.c.id, key_pairs.c.public_key).where(key_pairs.c.id.in_(key_ids)))
    return tuple(r.public_key for r in rows)


async def write_first_login(store: Store, driver: Driver, instance_id: str) -> None:
    """RunInstances' login settings, written where the guest reads them before its first boot (later
    changes go through apply_changes). Nothing to write when the instance was given no way in."""
    with store.read() as conn:
        inst = conn.execute(sa.select(instances).where(instances.c.id == instance_id)).one()
        if not inst.password_hash and not inst.key_ids:
            return
        changes = StoppedChanges(
            password_hash=inst.password_hash,
            password_changed_at=inst.password_changed_at.isoformat() if inst.password_changed_at else None,
            login_user=inst.login_user, authorized_keys=_public_keys(conn, list(inst.key_ids or [])),
            password_login=bool(inst.password_hash))
        spec = build_spec(conn, inst)
    if await driver.power_state(instance_id) is PowerState.RUNNING:
        return  # a launch repeated by recovery: the guest booted with them already
    await driver.apply_while_stopped(spec, changes)


async def apply_changes(store: Store, driver: Driver, op: Any, change: Change) -> dict[str, Any]:
    """Make `change` in the guest's disk (through the driver) and return the instance's new column values."""
    values: dict[str, Any] = {}
    guest = StoppedChanges()
    with store.read() as conn:
        inst = conn.execute(sa.select(instances).where(instances.c.id == op.resource_id)).one()
        match change:
            case ChangeInstanceType(instance_type=name):
                itype = INSTANCE_TYPES[name]
                values = {"instance_type": itype.name, "cpu": itype.cpu, "memory": itype.memory}
            case GrowDisk(disk_id=disk_id, size=size):
                guest = StoppedChanges(disk_sizes={disk_id: size} if disk_id else {})
            case ResetPassword(password_hash=password_hash, changed_at=changed_at, login_user=login_user):
                values = {"password_hash": password_hash, "password_changed_at": op.created_time,
                          "login_user": login_user}
                guest = StoppedChanges(password_hash=password_hash, password_changed_at=changed_at,
                                       login_user=login_user, password_login=True)
            case BindKeys(key_ids=key_ids):
                # Binding keys replaces the ones bound before and disables password login.
                new = list(dict.fromkeys(key_ids))
                values = {"key_ids": new, "password_hash": None}
                guest = StoppedChanges(authorized_keys=_public_keys(conn, new), password_login=False)
            case UnbindKeys(key_ids=key_ids):
                new = [k for k in inst.key_ids if k not in key_ids]
                values = {"key_ids": new}
                guest = StoppedChanges(authorized_keys=_public_keys(conn, new))
        spec = build_spec(conn, inst)
    await driver.apply_while_stopped(spec, guest)
    if guest.disk_sizes:
        with store.write() as conn:
            for disk_id, size in guest.disk_sizes.items():
                conn.execute(disks.update().where(disks.c.id == disk_id, disks.c.size < size).values(size=size))
                conn.execute(disks.update().where(disks.c.id == disk_id).values(state="ATTACHED"))
    return values
