"""Listeners (TCP, UDP, HTTP) and the forwarding rules of HTTP listeners. On Tencent an HTTP
listener's health check lives on its rules; a TCP/UDP listener carries its own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.errors import ApiError
from minicvm.services.clb import common, health
from minicvm.services.clb import models as m
from minicvm.services.clb.service import CLB
from minicvm.services.context import Context
from minicvm.store.tables import lb_rules, lb_targets, listeners
from minicvm.timefmt import now, plain

PROTOCOLS = ("TCP", "UDP", "HTTP")
L4 = ("TCP", "UDP")
L4_SCHEDULERS = ("WRR", "LEAST_CONN")
L7_SCHEDULERS = ("WRR", "LEAST_CONN", "IP_HASH")
_UNSUPPORTED_LISTENER = ("Certificate", "SniSwitch", "TargetType", "SessionType", "EndPort", "MultiCertInfo",
                         "FullEndPorts", "ProxyProtocol", "H2cSwitch", "SslCloseSwitch")


def rule_view(row: Any, listener_id: str) -> dict[str, Any]:
    return {"LocationId": row.id, "Domain": row.domain, "Url": row.url, "SessionExpireTime": row.session_expire_time,
            "HealthCheck": row.health_check, "Certificate": None, "Scheduler": row.scheduler, "ListenerId": listener_id,
            "RewriteTarget": None, "HttpGzip": True, "BeAutoCreated": False, "DefaultServer": False, "Http2": False,
            "ForwardType": "HTTP", "CreateTime": plain(row.created_time), "TargetType": "NODE", "TargetGroup": None,
            "WafDomainId": "", "QuicStatus": "QUIC_INACTIVE", "Domains": [row.domain]}


def listener_view(row: Any, rules: list[Any]) -> dict[str, Any]:
    l7 = row.protocol == "HTTP"
    return {
        "ListenerId": row.id, "Protocol": row.protocol, "Port": row.port, "Certificate": None,
        "HealthCheck": None if l7 else row.health_check, "Scheduler": None if l7 else row.scheduler,
        "SessionExpireTime": None if l7 else row.session_expire_time, "SniSwitch": 0,
        "Rules": [rule_view(r, row.id) for r in rules] if l7 else None, "ListenerName": row.name,
        "CreateTime": plain(row.created_time), "EndPort": 0, "TargetType": "NODE", "TargetGroup": None,
        "SessionType": "NORMAL", "KeepaliveEnable": 1 if l7 else 0, "Toa": False, "DeregisterTargetRst": False,
        "AttrFlags": [], "TargetGroupList": [], "MaxConn": -1, "MaxCps": -1,
        "IdleConnectTimeout": None if l7 else (900 if row.protocol == "TCP" else 300),
    }


def _scheduler(value: str | None, allowed: tuple[str, ...]) -> str:
    scheduler = value or "WRR"
    if scheduler not in allowed:
        raise ApiError("InvalidParameterValue", f"`Scheduler` must be one of {', '.join(allowed)} here.")
    return scheduler


def _session(value: int | None, high: int = 3600) -> int:
    if value is None or value == 0:
        return 0
    if not 30 <= value <= high:
        raise ApiError("InvalidParameterValue.Range", f"`SessionExpireTime` is 0 (off) or 30-{high}.")
    return value


@CLB.action("CreateListener", m.CreateListener)
async def create_listener(ctx: Context, req: m.CreateListener) -> dict[str, Any]:
    if req.Protocol not in PROTOCOLS:
        raise ApiError("InvalidParameterValue", f"`Protocol` {req.Protocol!r} is not supported; use {', '.join(PROTOCOLS)}.")
    for field in _UNSUPPORTED_LISTENER:
        if getattr(req, field):
            raise ApiError("InvalidParameter", f"`{field}` is not supported by minicvm listeners.")
    if not req.Ports:
        raise ApiError("MissingParameter", "The request is missing a required parameter `Ports`.")
    if len(set(req.Ports)) != len(req.Ports) or any(not 1 <= p <= 65535 for p in req.Ports):
        raise ApiError("InvalidParameter.PortCheckFailed", "`Ports` must be distinct ports in 1-65535.")
    names = req.ListenerNames or []
    if names and len(names) != len(req.Ports):
        raise ApiError("InvalidParameterValue.Length", "`ListenerNames` must name each port, in the same order.")
    if any(not 1 <= len(n) <= 80 for n in names):
        raise ApiError("InvalidParameterValue.Length", "Listener names are 1-80 characters.")
    l4 = req.Protocol in L4
    if not l4 and req.HealthCheck is not None:
        raise ApiError("InvalidParameter", "An HTTP listener has no health check of its own: set it on its rules.")
    if not l4 and (req.Scheduler or req.SessionExpireTime):
        raise ApiError("InvalidParameter", "An HTTP listener's scheduler and session persistence live on its rules.")
    check = health.normalise(req.HealthCheck, "TCP") if l4 else None
    scheduler = _scheduler(req.Scheduler, L4_SCHEDULERS) if l4 else "WRR"
    session = _session(req.SessionExpireTime) if l4 else 0
    with ctx.cloud.store.write() as conn:
        lb = common.owned_lb(conn, ctx, req.LoadBalancerId)
        used = {(r.port, r.protocol) for r in conn.execute(sa.select(listeners.c.port, listeners.c.protocol).where(
            listeners.c.lb_id == lb.id))}
        for port in req.Ports:
            # TCP and UDP may share a port number; anything else may not.
            clash = [(p, proto) for p, proto in used if p == port and {proto, req.Protocol} != {"TCP", "UDP"}]
            if clash:
                raise ApiError("InvalidParameter.PortCheckFailed", f"Port {port} already has a {clash[0][1]} listener.")
        created = []
        for index, port in enumerate(req.Ports):
            listener_id = idmod.new_id("lbl")
            conn.execute(listeners.insert().values(
                id=listener_id, lb_id=lb.id, account_id=ctx.account.id, protocol=req.Protocol, port=port,
                name=names[index] if names else f"{req.Protocol}-{port}", scheduler=scheduler, health_check=check,
                session_expire_time=session, created_time=now()))
            created.append(listener_id)
        common.record_task(conn, ctx, "CreateListener", [lb.id])
    await common.sync(ctx)
    return {"ListenerIds": created}


@CLB.action("DescribeListeners", m.DescribeListeners)
async def describe_listeners(ctx: Context, req: m.DescribeListeners) -> dict[str, Any]:
    if req.ListenerIds and len(req.ListenerIds) > 100:
        raise ApiError("InvalidParameterValue.Length", "At most 100 `ListenerIds`.")
    with ctx.cloud.store.read() as conn:
        lb = common.owned_lb(conn, ctx, req.LoadBalancerId)
        rows = common.listeners_of(conn, lb.id, req.ListenerIds, req.Protocol, req.Port)
        rules: dict[str, list[Any]] = {}
        for rule in conn.execute(sa.select(lb_rules).where(lb_rules.c.lb_id == lb.id).order_by(lb_rules.c.seq)):
            rules.setdefault(rule.listener_id, []).append(rule)
    return {"Listeners": [listener_view(r, rules.get(r.id, [])) for r in rows], "TotalCount": len(rows)}


@CLB.action("ModifyListener", m.ModifyListener)
async def modify_listener(ctx: Context, req: m.ModifyListener) -> dict[str, Any]:
    for field in ("Certificate", "SniSwitch", "TargetType", "SessionType", "MultiCertInfo", "ProxyProtocol"):
        if getattr(req, field):
            raise ApiError("InvalidParameter", f"`{field}` is not supported by minicvm listeners.")
    with ctx.cloud.store.write() as conn:
        row = common.owned_listener(conn, ctx, req.LoadBalancerId, req.ListenerId)
        l4 = row.protocol in L4
        values: dict[str, Any] = {}
        if req.ListenerName is not None:
            if not 1 <= len(req.ListenerName) <= 80:
                raise ApiError("InvalidParameterValue.Length", "Listener names are 1-80 characters.")
            values["name"] = req.ListenerName
        if not l4 and (req.HealthCheck is not None or req.Scheduler or req.SessionExpireTime is not None):
            raise ApiError("InvalidParameter", "Change an HTTP listener's health check and scheduler on its rules.")
        if req.HealthCheck is not None:
            values["health_check"] = health.normalise(req.HealthCheck, "TCP", row.health_check)
        if req.Scheduler is not None:
            values["scheduler"] = _scheduler(req.Scheduler, L7_SCHEDULERS)
        if req.SessionExpireTime is not None:
            values["session_expire_time"] = _session(req.SessionExpireTime)
        if values:
            conn.execute(listeners.update().where(listeners.c.id == row.id).values(**values))
        common.record_task(conn, ctx, "ModifyListener", [row.lb_id])
    await common.sync(ctx)
    return {}


@CLB.action("DeleteListener", m.DeleteListener)
async def delete_listener(ctx: Context, req: m.DeleteListener) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        row = common.owned_listener(conn, ctx, req.LoadBalancerId, req.ListenerId)
        conn.execute(lb_targets.delete().where(lb_targets.c.listener_id == row.id))
        conn.execute(lb_rules.delete().where(lb_rules.c.listener_id == row.id))
        conn.execute(listeners.delete().where(listeners.c.id == row.id))
        common.record_task(conn, ctx, "DeleteListener", [row.lb_id])
    await common.sync(ctx)
    return {}


def _url(value: str) -> str:
    if not 1 <= len(value) <= 200 or not value.startswith("/"):
        raise ApiError("InvalidParameterValue.Length", "`Url` must start with '/' and be 1-200 characters.")
    return value


def _domain(value: str | None) -> str:
    if value is None:
        return ""  # the default domain: any Host
    if not 1 <= len(value) <= 80:
        raise ApiError("InvalidParameterValue.Length", "`Domain` must be 1-80 characters.")
    return value.lower()


def _http_listener(conn: sa.Connection, ctx: Context, lb_id: str, listener_id: str) -> Any:
    row = common.owned_listener(conn, ctx, lb_id, listener_id)
    if row.protocol != "HTTP":
        raise ApiError("InvalidParameter", f"{listener_id} is a {row.protocol} listener; rules are for HTTP listeners.")
    return row


@CLB.action("CreateRule", m.CreateRule)
async def create_rule(ctx: Context, req: m.CreateRule) -> dict[str, Any]:
    if not req.Rules:
        raise ApiError("MissingParameter", "The request is missing a required parameter `Rules`.")
    prepared = []
    for rule in req.Rules:
        if rule.Certificate or rule.Quic or rule.Http2 or rule.TargetType not in (None, "NODE"):
            raise ApiError("InvalidParameter", "Certificates, QUIC, HTTP/2 and target groups are not supported by minicvm.")
        if rule.ForwardType not in (None, "HTTP"):
            raise ApiError("InvalidParameterValue", "`ForwardType` is HTTP here.")
        prepared.append((_domain(rule.Domain), _url(rule.Url), _scheduler(rule.Scheduler, L7_SCHEDULERS),
                         health.normalise(rule.HealthCheck, "HTTP"), _session(rule.SessionExpireTime, 86400)))
    keys = [(d, u) for d, u, *_ in prepared]
    if len(set(keys)) != len(keys):
        raise ApiError("InvalidParameterValue.Duplicate", "Two rules in the request have the same Domain and Url.")
    with ctx.cloud.store.write() as conn:
        listener = _http_listener(conn, ctx, req.LoadBalancerId, req.ListenerId)
        existing = {(r.domain, r.url) for r in conn.execute(sa.select(lb_rules.c.domain, lb_rules.c.url).where(
            lb_rules.c.listener_id == listener.id))}
        if existing & set(keys):
            raise ApiError("InvalidParameterValue.Duplicate", "A rule with that Domain and Url already exists.")
        created = []
        for domain, url, scheduler, check, session in prepared:
            location_id = idmod.new_id("loc")
            conn.execute(lb_rules.insert().values(
                id=location_id, listener_id=listener.id, lb_id=listener.lb_id, domain=domain, url=url,
                scheduler=scheduler, health_check=check, session_expire_time=session, created_time=now()))
            created.append(location_id)
        common.record_task(conn, ctx, "CreateRule", [listener.lb_id])
    await common.sync(ctx)
    return {"LocationIds": created}


@CLB.action("ModifyRule", m.ModifyRule)
async def modify_rule(ctx: Context, req: m.ModifyRule) -> dict[str, Any]:
    if req.ForwardType not in (None, "HTTP") or req.OAuth or req.TrpcCallee or req.TrpcFunc:
        raise ApiError("InvalidParameter", "minicvm rules forward plain HTTP only.")
    with ctx.cloud.store.write() as conn:
        listener = _http_listener(conn, ctx, req.LoadBalancerId, req.ListenerId)
        rule = common.owned_rule(conn, listener, req.LocationId, None, None)
        values: dict[str, Any] = {}
        if req.Url is not None:
            values["url"] = _url(req.Url)
        if req.HealthCheck is not None:
            values["health_check"] = health.normalise(req.HealthCheck, "HTTP", rule.health_check)
        if req.Scheduler is not None:
            values["scheduler"] = _scheduler(req.Scheduler, L7_SCHEDULERS)
        if req.SessionExpireTime is not None:
            values["session_expire_time"] = _session(req.SessionExpireTime, 86400)
        if values:
            conn.execute(lb_rules.update().where(lb_rules.c.id == rule.id).values(**values))
        common.record_task(conn, ctx, "ModifyRule", [listener.lb_id])
    await common.sync(ctx)
    return {}


@CLB.action("DeleteRule", m.DeleteRule)
async def delete_rule(ctx: Context, req: m.DeleteRule) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        listener = _http_listener(conn, ctx, req.LoadBalancerId, req.ListenerId)
        if req.LocationIds:
            doomed = [common.owned_rule(conn, listener, loc, None, None).id for loc in req.LocationIds]
        else:
            doomed = [common.owned_rule(conn, listener, None, _domain(req.Domain) or None, req.Url).id]
        conn.execute(lb_targets.delete().where(lb_targets.c.location_id.in_(doomed)))
        conn.execute(lb_rules.delete().where(lb_rules.c.id.in_(doomed)))
        common.record_task(conn, ctx, "DeleteRule", [listener.lb_id])
    await common.sync(ctx)
    return {}
