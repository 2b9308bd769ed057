"""What the CLB actions share: finding the caller's load balancers and listeners, recording tasks,
and pushing the new configuration to the data plane after every change."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import lifecycle as lc
from minicvm.engine import operations as ops
from minicvm.errors import ApiError
from minicvm.services.context import Context
from minicvm.store.tables import lb_rules, listeners, load_balancers


def check_lb_id(value: str) -> str:
    if not idmod.is_well_formed(value, "lb"):
        raise ApiError("InvalidParameter.FormatError", f"The load balancer id {value!r} is malformed.")
    return value


def owned_lb(conn: sa.Connection, ctx: Context, lb_id: str) -> Any:
    row = conn.execute(sa.select(load_balancers).where(
        load_balancers.c.id == check_lb_id(lb_id), load_balancers.c.account_id == ctx.account.id,
        load_balancers.c.region == ctx.region)).first()
    if row is None:
        raise ApiError("InvalidParameter.LBIdNotFound", f"The load balancer {lb_id} does not exist.")
    return row


def owned_listener(conn: sa.Connection, ctx: Context, lb_id: str, listener_id: str) -> Any:
    owned_lb(conn, ctx, lb_id)
    if not idmod.is_well_formed(listener_id, "lbl"):
        raise ApiError("InvalidParameter.FormatError", f"The listener id {listener_id!r} is malformed.")
    row = conn.execute(sa.select(listeners).where(listeners.c.id == listener_id, listeners.c.lb_id == lb_id)).first()
    if row is None:
        raise ApiError("InvalidParameter.ListenerIdNotFound", f"The listener {listener_id} does not exist in {lb_id}.")
    return row


def listeners_of(conn: sa.Connection, lb_id: str, listener_ids: list[str] | None, protocol: str | None,
                 port: int | None) -> list[Any]:
    """A load balancer's listeners, narrowed as DescribeListeners / DescribeTargets allow."""
    where = [listeners.c.lb_id == lb_id]
    if listener_ids:
        where.append(listeners.c.id.in_(listener_ids))
    if protocol:
        where.append(listeners.c.protocol == protocol)
    if port is not None:
        where.append(listeners.c.port == port)
    return list(conn.execute(sa.select(listeners).where(*where).order_by(listeners.c.seq)))


def owned_rule(conn: sa.Connection, listener: Any, location_id: str | None, domain: str | None,
               url: str | None) -> Any:
    """An L7 rule by LocationId, or by Domain + Url."""
    query = sa.select(lb_rules).where(lb_rules.c.listener_id == listener.id)
    if location_id:
        row = conn.execute(query.where(lb_rules.c.id == location_id)).first()
    elif url is not None:
        row = conn.execute(query.where(lb_rules.c.url == url, lb_rules.c.domain == (domain or ""))).first()
    else:
        raise ApiError("MissingParameter", "An HTTP listener needs `LocationId` (or `Domain` and `Url`).")
    if row is None:
        raise ApiError("InvalidParameter.LocationNotFound", "The forwarding rule does not exist.")
    return row


def record_task(conn: sa.Connection, ctx: Context, action: str, lb_ids: list[str]) -> None:
    """CLB writes are asynchronous on Tencent; callers poll DescribeTaskStatus with the RequestId."""
    for lb_id in lb_ids:
        ops.insert_operation(conn, account_id=ctx.account.id, resource_id=lb_id, action=action, steps=[],
                             params={}, request_id=ctx.request_id, state=lc.SUCCESS)


async def sync(ctx: Context) -> None:
    await ctx.cloud.clb.sync()
