"""The "apply while stopped" step: what ResetInstancesType, ResizeInstanceDisks,
ResetInstancesPassword and the key-pair actions change, in the store and in the guest's disk."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm.domain.catalog import INSTANCE_TYPES
from minicvm.drivers.base import Driver, StoppedChanges
from minicvm.engine.guest_spec import build_spec
from minicvm.store.db import Store
from minicvm.store.tables import disks, instances, key_pairs


async def apply_changes(store: Store, driver: Driver, op: Any) -> dict[str, Any]:
    params: dict[str, Any] = op.params
    values: dict[str, Any] = {}
    changes = StoppedChanges()
    with store.read() as conn:
        inst = conn.execute(sa.select(instances).where(instances.c.id == op.resource_id)).one()
        if op.action == "ResetInstancesType":
            itype = INSTANCE_TYPES[params["InstanceType"]]
            values = {"instance_type": itype.name, "cpu": itype.cpu, "memory": itype.memory}
        elif op.action == "ResizeInstanceDisks":
            changes = StoppedChanges(disk_sizes={k: int(v) for k, v in params["disk_sizes"].items()})
        elif op.action == "ResetInstancesPassword":
            values = {"password_hash": params["password_hash"], "password_changed_at": op.created_time,
                      "login_user": params["login_user"]}
            changes = StoppedChanges(password_hash=params["password_hash"],
                                     password_changed_at=params["password_changed_at"],
                                     login_user=params["login_user"])
        elif op.action in ("AssociateInstancesKeyPairs", "DisassociateInstancesKeyPairs"):
            current = list(inst.key_ids)
            if op.action == "AssociateInstancesKeyPairs":
                # Binding keys replaces the ones bound before and disables password login.
                new = list(dict.fromkeys(params["KeyIds"]))
                values = {"key_ids": new, "password_hash": None}
            else:
                new = [k for k in current if k not in params["KeyIds"]]
                values = {"key_ids": new}
            public = [r.public_key for r in conn.execute(
                sa.select(key_pairs.c.id, key_pairs.c.public_key).where(key_pairs.c.id.in_(new)))]
            changes = StoppedChanges(authorized_keys=tuple(public))
        spec = build_spec(conn, inst)
    await driver.apply_while_stopped(spec, changes)
    if changes.disk_sizes:
        with store.write() as conn:
            for disk_id, size in changes.disk_sizes.items():
                conn.execute(disks.update().where(disks.c.id == disk_id, disks.c.size < size).values(size=size))
                conn.execute(disks.update().where(disks.c.id == disk_id).values(state="ATTACHED"))
    return values
