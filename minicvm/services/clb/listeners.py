"""Listeners (TCP, UDP, HTTP) and the forwarding rules of HTTP listeners, on the wire. On Tencent an
HTTP listener's health check lives on its rules; a TCP/UDP listener carries its own."""

from __future__ import annotations

from typing import Any

from minicvm import errors
from minicvm.errors import ApiError
from minicvm.services.clb import health, params
from minicvm.services.clb import models as m
from minicvm.services.clb.backend import L4, L7_SCHEDULERS, ClbBackend, NewRule, RuleRef
from minicvm.services.clb.service import CLB
from minicvm.services.clb.views import listener_view
from minicvm.services.context import Context

PROTOCOLS = ("TCP", "UDP", "HTTP")
L4_SCHEDULERS = ("WRR", "LEAST_CONN")
_UNSUPPORTED_LISTENER = ("Certificate", "SniSwitch", "TargetType", "SessionType", "EndPort", "MultiCertInfo",
                         "FullEndPorts", "ProxyProtocol", "H2cSwitch", "SslCloseSwitch")


@CLB.action("CreateListener", m.CreateListener)
async def create_listener(ctx: Context, req: m.CreateListener) -> dict[str, Any]:
    if req.Protocol not in PROTOCOLS:
        raise ApiError("InvalidParameterValue", f"`Protocol` {req.Protocol!r} is not supported; use {', '.join(PROTOCOLS)}.")
    for field in _UNSUPPORTED_LISTENER:
        if getattr(req, field):
            raise ApiError("InvalidParameter", f"`{field}` is not supported by minicvm listeners.")
    if not req.Ports:
        raise errors.missing("Ports")
    if len(set(req.Ports)) != len(req.Ports) or any(not 1 <= p <= 65535 for p in req.Ports):
        raise ApiError("InvalidParameter.PortCheckFailed", "`Ports` must be distinct ports in 1-65535.")
    names = req.ListenerNames or []
    if names and len(names) != len(req.Ports):
        raise ApiError("InvalidParameterValue.Length", "`ListenerNames` must name each port, in the same order.")
    for name in names:
        params.listener_name(name)
    l4 = req.Protocol in L4
    if not l4 and req.HealthCheck is not None:
        raise ApiError("InvalidParameter", "An HTTP listener has no health check of its own: set it on its rules.")
    if not l4 and (req.Scheduler or req.SessionExpireTime):
        raise ApiError("InvalidParameter", "An HTTP listener's scheduler and session persistence live on its rules.")
    created = await ClbBackend(ctx).create_listeners(
        lb_id=params.lb_id(req.LoadBalancerId), protocol=req.Protocol, ports=list(req.Ports), names=names,
        scheduler=params.scheduler(req.Scheduler, L4_SCHEDULERS) if l4 else "WRR",
        health_check=health.normalise(req.HealthCheck, "TCP") if l4 else None,
        session=params.session(req.SessionExpireTime) if l4 else 0)
    return {"ListenerIds": created}


@CLB.action("DescribeListeners", m.DescribeListeners)
async def describe_listeners(ctx: Context, req: m.DescribeListeners) -> dict[str, Any]:
    if req.ListenerIds and len(req.ListenerIds) > 100:
        raise ApiError("InvalidParameterValue.Length", "At most 100 `ListenerIds`.")
    found = ClbBackend(ctx).describe_listeners(params.lb_id(req.LoadBalancerId), req.ListenerIds, req.Protocol,
                                               req.Port)
    return {"Listeners": [listener_view(r, rules) for r, rules in found], "TotalCount": len(found)}


@CLB.action("ModifyListener", m.ModifyListener)
async def modify_listener(ctx: Context, req: m.ModifyListener) -> dict[str, Any]:
    for field in ("Certificate", "SniSwitch", "TargetType", "SessionType", "MultiCertInfo", "ProxyProtocol"):
        if getattr(req, field):
            raise ApiError("InvalidParameter", f"`{field}` is not supported by minicvm listeners.")
    await ClbBackend(ctx).modify_listener(
        params.lb_id(req.LoadBalancerId), params.listener_id(req.ListenerId),
        name=None if req.ListenerName is None else params.listener_name(req.ListenerName),
        health_check=req.HealthCheck,
        scheduler=None if req.Scheduler is None else params.scheduler(req.Scheduler, L7_SCHEDULERS),
        session=None if req.SessionExpireTime is None else params.session(req.SessionExpireTime))
    return {}


@CLB.action("DeleteListener", m.DeleteListener)
async def delete_listener(ctx: Context, req: m.DeleteListener) -> dict[str, Any]:
    await ClbBackend(ctx).delete_listener(params.lb_id(req.LoadBalancerId), params.listener_id(req.ListenerId))
    return {}


@CLB.action("CreateRule", m.CreateRule)
async def create_rule(ctx: Context, req: m.CreateRule) -> dict[str, Any]:
    if not req.Rules:
        raise errors.missing("Rules")
    rules = []
    for rule in req.Rules:
        if rule.Certificate or rule.Quic or rule.Http2 or rule.TargetType not in (None, "NODE"):
            raise ApiError("InvalidParameter", "Certificates, QUIC, HTTP/2 and target groups are not supported by minicvm.")
        if rule.ForwardType not in (None, "HTTP"):
            raise ApiError("InvalidParameterValue", "`ForwardType` is HTTP here.")
        rules.append(NewRule(params.domain(rule.Domain), params.url(rule.Url),
                             params.scheduler(rule.Scheduler, L7_SCHEDULERS), health.normalise(rule.HealthCheck, "HTTP"),
                             params.session(rule.SessionExpireTime, 86400)))
    keys = [(r.domain, r.url) for r in rules]
    if len(set(keys)) != len(keys):
        raise ApiError("InvalidParameterValue.Duplicate", "Two rules in the request have the same Domain and Url.")
    created = await ClbBackend(ctx).create_rules(params.lb_id(req.LoadBalancerId), params.listener_id(req.ListenerId),
                                                 rules)
    return {"LocationIds": created}


@CLB.action("ModifyRule", m.ModifyRule)
async def modify_rule(ctx: Context, req: m.ModifyRule) -> dict[str, Any]:
    if req.ForwardType not in (None, "HTTP") or req.OAuth or req.TrpcCallee or req.TrpcFunc:
        raise ApiError("InvalidParameter", "minicvm rules forward plain HTTP only.")
    await ClbBackend(ctx).modify_rule(
        params.lb_id(req.LoadBalancerId), params.listener_id(req.ListenerId), req.LocationId,
        url=None if req.Url is None else params.url(req.Url), health_check=req.HealthCheck,
        scheduler=None if req.Scheduler is None else params.scheduler(req.Scheduler, L7_SCHEDULERS),
        session=None if req.SessionExpireTime is None else params.session(req.SessionExpireTime, 86400))
    return {}


@CLB.action("DeleteRule", m.DeleteRule)
async def delete_rule(ctx: Context, req: m.DeleteRule) -> dict[str, Any]:
    if req.LocationIds:
        refs = [RuleRef(loc) for loc in req.LocationIds]
    else:
        refs = [RuleRef(None, params.domain(req.Domain) or None, req.Url)]
    await ClbBackend(ctx).delete_rules(params.lb_id(req.LoadBalancerId), params.listener_id(req.ListenerId), refs)
    return {}
