"""What the driver is told about a guest: read from the instance's row and its attached disks."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm.drivers.base import DiskSpec, GuestSpec
from minicvm.store.statements import GUEST_DISKS


def build_spec(conn: sa.Connection, inst: Any) -> GuestSpec:
    rows = GUEST_DISKS.all(conn, id=inst.id)
    return GuestSpec(
        instance_id=inst.id, host=inst.guest_host, port=inst.guest_port, cpu=inst.cpu, memory_gib=inst.memory,
        disks=tuple(DiskSpec(r.id, r.size, r.usage == "SYSTEM_DISK") for r in rows),
        user_data=inst.user_data, host_name=inst.host_name,
    )
