"""Group membership and the group's load balancers: registering members as targets on every forward
load balancer entry (listener or rule, port, weight) and taking them off before they leave."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm.dataplane.model import Health, stored_location
from minicvm.engine.clb_controller import ClbController
from minicvm.store.tables import lb_targets
from minicvm.timefmt import now


def forward_entries(settings: dict[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """(lb, listener, location or "", port, weight) for each target the group keeps registered."""
    return [(f["LoadBalancerId"], f["ListenerId"], stored_location(f.get("LocationId")), t["Port"], t["Weight"])
            for f in settings.get("ForwardLoadBalancers", []) for t in f["TargetAttributes"]]


def register(conn: sa.Connection, settings: dict[str, Any], instance_id: str) -> bool:
    """Make sure the instance is a target everywhere the group says; True if anything changed."""
    changed = False
    for lb_id, listener_id, location_id, port, weight in forward_entries(settings):
        exists = conn.execute(sa.select(lb_targets.c.seq).where(
            lb_targets.c.listener_id == listener_id, lb_targets.c.location_id == location_id,
            lb_targets.c.instance_id == instance_id, lb_targets.c.port == port)).first()
        if not exists:
            conn.execute(lb_targets.insert().values(lb_id=lb_id, listener_id=listener_id, location_id=location_id,
                                                    instance_id=instance_id, port=port, weight=weight,
                                                    created_time=now()))
            changed = True
    return changed


def deregister(conn: sa.Connection, settings: dict[str, Any], instance_id: str) -> bool:
    changed = False
    for _lb_id, listener_id, location_id, port, _weight in forward_entries(settings):
        result = conn.execute(lb_targets.delete().where(
            lb_targets.c.listener_id == listener_id, lb_targets.c.location_id == location_id,
            lb_targets.c.instance_id == instance_id, lb_targets.c.port == port))
        changed = changed or bool(result.rowcount)
    return changed


def lb_health(clb: ClbController, settings: dict[str, Any], instance_id: str) -> list[Health]:
    """What the data plane says of this instance on each of the group's entries."""
    return [clb.target_health(listener_id, location_id, instance_id, port)
            for _lb, listener_id, location_id, port, _w in forward_entries(settings)]
