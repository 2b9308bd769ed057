"""Backend targets: instances registered on a listener (L4) or a rule (L7), in any state — as on
Tencent, health decides what gets traffic."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.dataplane.model import Health, stored_location
from minicvm.engine import network
from minicvm.engine.clb_controller import ClbController
from minicvm.errors import ApiError
from minicvm.services.clb import common
from minicvm.services.clb import models as m
from minicvm.services.clb.service import CLB
from minicvm.services.context import Context
from minicvm.store.tables import instances, lb_rules, lb_targets, listeners
from minicvm.timefmt import now, plain

MAX_TARGETS = 20


def _location(conn: sa.Connection, listener: Any, req: m.Targets) -> str:
    """The rule's LocationId for an HTTP listener; for an L4 listener, how the store says "no rule"."""
    if listener.protocol == "HTTP":
        domain = req.Domain.lower() if req.Domain else None
        return common.owned_rule(conn, listener, req.LocationId, domain, req.Url).id
    if req.LocationId or req.Url:
        raise ApiError("InvalidParameter", "A TCP/UDP listener has no rules: leave out `LocationId`, `Domain` and `Url`.")
    return stored_location(None)


def _targets(conn: sa.Connection, ctx: Context, req: m.Targets, need_weight: bool = False) -> list[tuple[str, int, int | None]]:
    if not req.Targets:
        raise ApiError("MissingParameter", "The request is missing a required parameter `Targets`.")
    if len(req.Targets) > MAX_TARGETS:
        raise ApiError("LimitExceeded", f"At most {MAX_TARGETS} targets per request.")
    result = []
    for i, target in enumerate(req.Targets):
        if target.EniIp is not None:
            raise ApiError("InvalidParameter", "minicvm targets are instances: give `InstanceId`, not `EniIp`.")
        if target.InstanceId is None:
            raise ApiError("MissingParameter", f"The request is missing a required parameter `Targets.{i}.InstanceId`.")
        if target.Port is None:
            raise ApiError("MissingParameter", f"The request is missing a required parameter `Targets.{i}.Port`.")
        if not idmod.is_well_formed(target.InstanceId, "ins"):
            raise ApiError("InvalidParameter.FormatError", f"The instance id {target.InstanceId!r} is malformed.")
        if not 1 <= target.Port <= 65535:
            raise ApiError("InvalidParameterValue.Range", f"`Targets.{i}.Port` must be 1-65535.")
        if target.Weight is not None and not 0 <= target.Weight <= 100:
            raise ApiError("InvalidParameterValue.Range", f"`Targets.{i}.Weight` must be 0-100.")
        result.append((target.InstanceId, target.Port, target.Weight))
    pairs = [(i, p) for i, p, _ in result]
    if len(set(pairs)) != len(pairs):
        raise ApiError("InvalidParameterValue.Duplicate", "The same instance and port appear twice in `Targets`.")
    owned = set(conn.execute(sa.select(instances.c.id).where(
        instances.c.id.in_([i for i, _ in pairs]), instances.c.account_id == ctx.account.id,
        instances.c.region == ctx.region)).scalars())
    foreign = sorted({i for i, _ in pairs} - owned)
    if foreign:
        raise ApiError("InvalidParameter", f"The instances {foreign} do not exist.")
    return result


def _registered(conn: sa.Connection, listener_id: str, location_id: str) -> dict[tuple[str, int], Any]:
    return {(r.instance_id, r.port): r for r in conn.execute(sa.select(lb_targets).where(
        lb_targets.c.listener_id == listener_id, lb_targets.c.location_id == location_id))}


def _registered_all(conn: sa.Connection, listener_id: str, location_id: str,
                    wanted: list[tuple[str, int, int | None]]) -> dict[tuple[str, int], Any]:
    """The registered targets, if every wanted one is among them (Deregister/ModifyTargetWeight)."""
    current = _registered(conn, listener_id, location_id)
    missing = [f"{i}:{p}" for i, p, _ in wanted if (i, p) not in current]
    if missing:
        raise ApiError("InvalidParameter", f"Not registered on this listener: {', '.join(missing)}.")
    return current


@CLB.action("RegisterTargets", m.Targets)
async def register_targets(ctx: Context, req: m.Targets) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        listener = common.owned_listener(conn, ctx, req.LoadBalancerId, req.ListenerId)
        location_id = _location(conn, listener, req)
        wanted = _targets(conn, ctx, req)
        already = [f"{i}:{p}" for i, p, _ in wanted if (i, p) in _registered(conn, listener.id, location_id)]
        if already:
            raise ApiError("InvalidParameterValue.Duplicate", f"Already registered: {', '.join(already)}.")
        for instance_id, port, weight in wanted:
            conn.execute(lb_targets.insert().values(
                lb_id=listener.lb_id, listener_id=listener.id, location_id=location_id, instance_id=instance_id,
                port=port, weight=10 if weight is None else weight, created_time=now()))
        common.record_task(conn, ctx, "RegisterTargets", [listener.lb_id])
    await common.sync(ctx)
    return {}


@CLB.action("DeregisterTargets", m.Targets)
async def deregister_targets(ctx: Context, req: m.Targets) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        listener = common.owned_listener(conn, ctx, req.LoadBalancerId, req.ListenerId)
        location_id = _location(conn, listener, req)
        wanted = _targets(conn, ctx, req)
        current = _registered_all(conn, listener.id, location_id, wanted)
        for instance_id, port, _ in wanted:
            conn.execute(lb_targets.delete().where(lb_targets.c.seq == current[(instance_id, port)].seq))
        common.record_task(conn, ctx, "DeregisterTargets", [listener.lb_id])
    await common.sync(ctx)
    return {}


@CLB.action("ModifyTargetWeight", m.ModifyTargetWeight)
async def modify_target_weight(ctx: Context, req: m.ModifyTargetWeight) -> dict[str, Any]:
    if req.Weight is not None and not 0 <= req.Weight <= 100:
        raise ApiError("InvalidParameterValue.Range", "`Weight` must be 0-100.")
    with ctx.cloud.store.write() as conn:
        listener = common.owned_listener(conn, ctx, req.LoadBalancerId, req.ListenerId)
        location_id = _location(conn, listener, req)
        wanted = _targets(conn, ctx, req)
        current = _registered_all(conn, listener.id, location_id, wanted)
        for instance_id, port, weight in wanted:
            new = weight if weight is not None else req.Weight
            if new is None:
                raise ApiError("MissingParameter", "Give `Weight` for the request or for each target.")
            conn.execute(lb_targets.update().where(lb_targets.c.seq == current[(instance_id, port)].seq)
                         .values(weight=new))
        common.record_task(conn, ctx, "ModifyTargetWeight", [listener.lb_id])
    await common.sync(ctx)
    return {}


def _backend_view(target: Any, inst: Any, public: list[str]) -> dict[str, Any]:
    return {"Type": "CVM", "InstanceId": target.instance_id, "Port": target.port, "Weight": target.weight,
            "PublicIpAddresses": public or None, "PrivateIpAddresses": [inst.private_ip] if inst else [],
            "InstanceName": inst.name if inst else None, "RegisteredTime": plain(target.created_time), "EniId": None,
            "Zone": inst.zone if inst else None}


@CLB.action("DescribeTargets", m.DescribeTargets)
async def describe_targets(ctx: Context, req: m.DescribeTargets) -> dict[str, Any]:
    if req.ListenerIds and len(req.ListenerIds) > 20:
        raise ApiError("InvalidParameterValue.Length", "At most 20 `ListenerIds`.")
    wanted_locations: set[str] | None = None
    wanted_ips: set[str] | None = None
    for f in req.Filters or []:
        if f.Name == "location-id":
            wanted_locations = set(f.Values)
        elif f.Name == "private-ip-address":
            wanted_ips = set(f.Values)
        elif f.Name != "tag":
            raise ApiError("InvalidParameterValue.InvalidFilter", f"The filter `{f.Name}` is not supported.")
    with ctx.cloud.store.read() as conn:
        lb = common.owned_lb(conn, ctx, req.LoadBalancerId)
        rows = common.listeners_of(conn, lb.id, req.ListenerIds, req.Protocol, req.Port)
        targets = list(conn.execute(sa.select(lb_targets).where(lb_targets.c.lb_id == lb.id).order_by(lb_targets.c.seq)))
        rules = list(conn.execute(sa.select(lb_rules).where(lb_rules.c.lb_id == lb.id).order_by(lb_rules.c.seq)))
        insts = {r.id: r for r in conn.execute(sa.select(instances).where(
            instances.c.id.in_({t.instance_id for t in targets})))}
        public = network.public_ips(conn, list(insts))

    def views(listener_id: str, location_id: str) -> list[dict[str, Any]]:
        chosen = [t for t in targets if t.listener_id == listener_id and t.location_id == location_id]
        if wanted_ips is not None:
            chosen = [t for t in chosen if t.instance_id in insts and insts[t.instance_id].private_ip in wanted_ips]
        return [_backend_view(t, insts.get(t.instance_id), public.get(t.instance_id, [])) for t in chosen]

    result = []
    for listener in rows:
        if listener.protocol == "HTTP":
            rule_sets = [{"LocationId": r.id, "Domain": r.domain, "Url": r.url, "Targets": views(listener.id, r.id),
                          "FunctionTargets": None}
                         for r in rules if r.listener_id == listener.id
                         and (wanted_locations is None or r.id in wanted_locations)]
            result.append({"ListenerId": listener.id, "Protocol": listener.protocol, "Port": listener.port,
                           "Rules": rule_sets, "Targets": None, "EndPort": 0})
        else:
            result.append({"ListenerId": listener.id, "Protocol": listener.protocol, "Port": listener.port,
                           "Rules": None, "Targets": views(listener.id, stored_location(None)), "EndPort": 0})
    return {"Listeners": result}


def _health_rows(clb: ClbController, targets: list[Any], ips: dict[str, str], listener_id: str,
                 location_id: str) -> list[dict[str, Any]]:
    out = []
    for t in targets:
        if t.listener_id != listener_id or t.location_id != location_id:
            continue
        detail = clb.target_health(listener_id, location_id, t.instance_id, t.port)
        out.append({"IP": ips.get(t.instance_id, ""), "Port": t.port, "HealthStatus": detail == Health.ALIVE,
                    "TargetId": t.instance_id, "HealthStatusDetail": detail, "HealthStatusDetial": detail,
                    "Weight": t.weight})
    return out


@CLB.action("DescribeTargetHealth", m.DescribeTargetHealth)
async def describe_target_health(ctx: Context, req: m.DescribeTargetHealth) -> dict[str, Any]:
    if not req.LoadBalancerIds:
        raise ApiError("MissingParameter", "The request is missing a required parameter `LoadBalancerIds`.")
    if len(req.LoadBalancerIds) > 30:
        raise ApiError("InvalidParameterValue.Length", "At most 30 `LoadBalancerIds`.")
    clb = ctx.cloud.clb
    result = []
    with ctx.cloud.store.read() as conn:
        for lb_id in req.LoadBalancerIds:
            lb = common.owned_lb(conn, ctx, lb_id)
            lsts = [r for r in conn.execute(sa.select(listeners).where(listeners.c.lb_id == lb.id).order_by(listeners.c.seq))
                    if not req.ListenerIds or r.id in req.ListenerIds]
            rules = list(conn.execute(sa.select(lb_rules).where(lb_rules.c.lb_id == lb.id).order_by(lb_rules.c.seq)))
            targets = list(conn.execute(sa.select(lb_targets).where(lb_targets.c.lb_id == lb.id).order_by(lb_targets.c.seq)))
            ips = dict(conn.execute(sa.select(instances.c.id, instances.c.private_ip).where(
                instances.c.id.in_({t.instance_id for t in targets}))).all())

            listener_views = []
            for listener in lsts:
                if listener.protocol == "HTTP":
                    rule_views = [{"LocationId": r.id, "Domain": r.domain, "Url": r.url, "RuleId": r.id,
                                   "Targets": _health_rows(clb, targets, ips, listener.id, r.id)}
                                  for r in rules if r.listener_id == listener.id
                                  and (not req.LocationIds or r.id in req.LocationIds)]
                else:
                    # L4 listeners report their targets inside one Rules element (as Tencent does).
                    rule_views = [{"LocationId": listener.id, "Domain": None, "Url": None, "RuleId": listener.id,
                                   "Targets": _health_rows(clb, targets, ips, listener.id, stored_location(None))}]
                listener_views.append({"ListenerId": listener.id, "ListenerName": listener.name,
                                       "Protocol": listener.protocol, "Port": listener.port, "Rules": rule_views})
            result.append({"LoadBalancerId": lb.id, "LoadBalancerName": lb.name, "Listeners": listener_views})
    return {"LoadBalancers": result}
