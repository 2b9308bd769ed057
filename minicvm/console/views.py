"""What the console shows beyond the API's own answers: for each instance, which actions the lifecycle
table allows now and why not (the same words as the API's errors), and an instance's whole story."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from minicvm.dataplane.model import pool_location
from minicvm.domain import lifecycle as lc
from minicvm.store.tables import events, lb_targets, listeners, load_balancers, operations
from minicvm.timefmt import iso

if TYPE_CHECKING:
    from minicvm.cloud import Cloud

CONSOLE_ACTIONS = ("StartInstances", "StopInstances", "RebootInstances", "TerminateInstances", "ResetInstancesType",
                   "ResizeInstanceDisks", "ResetInstancesPassword", "AssociateInstancesKeyPairs",
                   "DisassociateInstancesKeyPairs")


def permissions(instance: dict[str, Any]) -> dict[str, Any]:
    """{action: {Allowed, Reason, ForceStopAllowed}} and whether STOP_CHARGING is possible, from the
    lifecycle table and the STOP_CHARGING rule — nothing decided here."""
    iid, state, op_state = instance["InstanceId"], instance["InstanceState"], instance["LatestOperationState"]
    actions = {}
    for action in CONSOLE_ACTIONS:
        refused = lc.refusal(action, iid, state, op_state)
        forced = lc.refusal(action, iid, state, op_state, forced=True) if refused else None
        actions[action] = {"Allowed": refused is None, "Reason": refused.reason if refused else None,
                           "Code": refused.code if refused else None,
                           "ForceStopAllowed": refused is not None and forced is None}
    disk_types = [instance["SystemDisk"]["DiskType"]] + [d["DiskType"] for d in instance["DataDisks"]]
    no_charge = lc.stop_charging_refusal(iid, instance["InstanceChargeType"], disk_types)
    return {"Actions": actions, "StopCharging": {"Allowed": no_charge is None,
                                                 "Reason": no_charge.reason if no_charge else None}}


def instance_log(cloud: Cloud, account_id: int, instance_id: str) -> list[dict[str, Any]]:
    """Operations and events of one instance, newest first."""
    with cloud.store.read() as conn:
        ops = conn.execute(sa.select(operations).where(operations.c.resource_id == instance_id,
                                                       operations.c.account_id == account_id))
        entries = [{"Time": iso(o.created_time), "Kind": o.action, "State": o.state,
                    "Message": o.error or ("in progress" if o.state == lc.OPERATING else "done"),
                    "RequestId": o.request_id, "_seq": (o.created_time, 0, o.seq)} for o in ops]
        evs = conn.execute(sa.select(events).where(events.c.resource_id == instance_id,
                                                   events.c.account_id == account_id))
        entries += [{"Time": iso(e.created_time), "Kind": e.kind, "State": "", "Message": e.message,
                     "RequestId": "", "_seq": (e.created_time, 1, e.seq)} for e in evs]
    entries.sort(key=lambda e: e.pop("_seq"), reverse=True)
    return entries


def memberships(cloud: Cloud, account_id: int, instance_id: str) -> list[dict[str, Any]]:
    """The load balancer targets this instance is, with the health the data plane sees."""
    with cloud.store.read() as conn:
        rows = conn.execute(
            sa.select(lb_targets, load_balancers.c.name, load_balancers.c.vip, listeners.c.protocol,
                      listeners.c.port.label("listener_port"))
            .join(load_balancers, load_balancers.c.id == lb_targets.c.lb_id)
            .join(listeners, listeners.c.id == lb_targets.c.listener_id)
            .where(lb_targets.c.instance_id == instance_id, load_balancers.c.account_id == account_id)).all()
    return [{"LoadBalancerId": r.lb_id, "LoadBalancerName": r.name, "Vip": r.vip, "ListenerId": r.listener_id,
             "Protocol": r.protocol, "ListenerPort": r.listener_port, "LocationId": pool_location(r.location_id),
             "Port": r.port, "Weight": r.weight,
             "Health": cloud.clb.target_health(r.listener_id, r.location_id, instance_id, r.port)}
            for r in rows]


def lb_counters(cloud: Cloud, account_id: int, lb_id: str) -> list[dict[str, Any]] | None:
    with cloud.store.read() as conn:
        owner = conn.execute(sa.select(load_balancers.c.account_id).where(load_balancers.c.id == lb_id)).scalar()
        if owner != account_id:
            return None
        mine = set(conn.execute(sa.select(listeners.c.id).where(listeners.c.lb_id == lb_id)).scalars())
    return [{"ListenerId": s.listener_id, "LocationId": s.location_id, "Target": s.backend_key,
             "InstanceId": s.instance_id, "Requests": s.requests, "Responses5xx": s.responses_5xx,
             "BackendErrors": s.backend_errors, "ActiveConnections": s.active_connections,
             "HealthTransitions": s.health_transitions, "Health": s.health}
            for s in cloud.clb.metrics() if s.listener_id in mine]
