"""What the driver is told about a guest: read from the instance's row and its attached disks."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm.drivers.base import DiskSpec, GuestSpec
from minicvm.store.prepared import Prepared
from minicvm.store.tables import disks

# Read before every boot: a prepared statement (see store/prepared.py).
GUEST_DISKS: Prepared[Any] = Prepared(
    lambda: sa.select(disks.c.id, disks.c.size, disks.c.usage)
    .where(disks.c.instance_id == sa.bindparam("id"),
           disks.c.state.in_([sa.literal(s) for s in ("ATTACHED", "EXPANDING", "DETACHING")]))
    .order_by(disks.c.usage.desc(), disks.c.seq))


def build_spec(conn: sa.Connection, inst: Any) -> GuestSpec:
    rows = GUEST_DISKS.all(conn, id=inst.id)
    return GuestSpec(
        instance_id=inst.id, host=inst.guest_host, port=inst.guest_port, cpu=inst.cpu, memory_gib=inst.memory,
        disks=tuple(DiskSpec(r.id, r.size, r.usage == "SYSTEM_DISK") for r in rows),
        user_data=inst.user_data, host_name=inst.host_name,
    )
