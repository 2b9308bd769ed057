"""Listing instances and changing their power state (start, stop, reboot, terminate)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from minicvm.domain import lifecycle as lc
from minicvm.domain.lifecycle import Refusal
from minicvm.domain.states import DEFAULT_STOPPED_MODE, StoppedMode
from minicvm.engine import operations as ops
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm import rules
from minicvm.services.cvm.service import CVM
from minicvm.services.cvm.views import instance_views
from minicvm.store.prepared import Prepared, each
from minicvm.store.tables import addresses, disks, instances

INSTANCE_FILTERS = (
    "zone", "project-id", "host-id", "dedicated-cluster-id", "vpc-id", "subnet-id", "instance-id", "uuid",
    "security-group-id", "instance-name", "instance-charge-type", "instance-state", "private-ip-address",
    "public-ip-address", "ipv6-address", "tag-key", "tag-value", "creation-start-time", "creation-end-time",
)


def instance_ids(values: list[str] | None, required: bool = True) -> list[str]:
    return common.check_ids(values, "ins", "InstanceIds", "InvalidInstanceId.Malformed", required=required)


def _time(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ApiError("InvalidParameterValue.InvalidTimeFormat",
                       f"{value!r} is not a time of the form 2023-06-01 00:00:00.") from None


def _where(ctx: Context, filters: dict[str, list[str]]) -> tuple[list[Any], dict[str, list[str]]]:
    """SQL conditions for the filters the store can answer; the rest are checked row by row."""
    c = instances.c
    where: list[Any] = [c.account_id == ctx.account.id, c.region == ctx.region]
    columns = {"zone": c.zone, "vpc-id": c.vpc_id, "subnet-id": c.subnet_id, "instance-id": c.id, "uuid": c.uuid,
               "instance-charge-type": c.charge_type, "instance-state": c.state, "private-ip-address": c.private_ip}
    in_python: dict[str, list[str]] = {}
    for name, values in filters.items():
        if name in columns:
            where.append(columns[name].in_(values))
        elif name == "project-id":
            where.append(c.project_id.in_([int(v) for v in values if v.lstrip("-").isdigit()]))
        elif name == "instance-name":
            where.append(sa.or_(*[c.name.contains(v, autoescape=True) for v in values]))
        elif name == "public-ip-address":
            where.append(c.id.in_(sa.select(addresses.c.instance_id).where(addresses.c.ip.in_(values))))
        elif name == "creation-start-time":
            where.append(c.created_time >= _time(values[0]))
        elif name == "creation-end-time":
            where.append(c.created_time <= _time(values[0]))
        elif name in ("host-id", "dedicated-cluster-id", "ipv6-address"):
            where.append(sa.false())  # minicvm has no dedicated hosts, clusters or IPv6
        else:
            in_python[name] = values
    return where, in_python


def _row_matches(row: Any, checks: dict[str, list[str]]) -> bool:
    sgs = checks.get("security-group-id")
    if sgs is not None and not set(sgs) & set(row.security_group_ids):
        return False
    return common.tags_match(list(row.tags), {k: v for k, v in checks.items() if k.startswith("tag")})


@CVM.action("DescribeInstances", m.DescribeInstances)
async def describe_instances(ctx: Context, req: m.DescribeInstances) -> dict[str, Any]:
    if req.InstanceIds and req.Filters:
        raise ApiError("InvalidParameter", "`InstanceIds` and `Filters` cannot be used together.")
    wanted = instance_ids(req.InstanceIds, required=False)
    filters = common.check_filters(req.Filters, INSTANCE_FILTERS)
    offset, limit = common.paging(req.Offset, req.Limit)
    where, in_python = _where(ctx, filters)
    if wanted:
        where.append(instances.c.id.in_(wanted))
    with ctx.cloud.store.read() as conn:
        if in_python:
            rows = [r for r in conn.execute(sa.select(instances).where(*where).order_by(instances.c.seq))
                    if _row_matches(r, in_python)]
            total, page = len(rows), rows[offset: offset + limit]
        else:
            total = conn.execute(sa.select(sa.func.count()).select_from(instances).where(*where)).scalar_one()
            page = list(conn.execute(
                sa.select(instances).where(*where).order_by(instances.c.seq).offset(offset).limit(limit)))
        return {"TotalCount": total, "InstanceSet": instance_views(conn, page)}


@CVM.action("DescribeInstancesStatus", m.DescribeInstancesStatus)
async def describe_instances_status(ctx: Context, req: m.DescribeInstancesStatus) -> dict[str, Any]:
    wanted = instance_ids(req.InstanceIds, required=False)
    offset, limit = common.paging(req.Offset, req.Limit)
    with ctx.cloud.store.read() as conn:
        if wanted:
            # At most 100 ids: fetch them all and page here, the count comes for free.
            rows = STATUS_OF.all(conn, account_id=ctx.account.id, region=ctx.region, ids=list(dict.fromkeys(wanted)))
            total, rows = len(rows), rows[offset:offset + limit]
        else:
            total = STATUS_COUNT.scalar(conn, account_id=ctx.account.id, region=ctx.region)
            rows = STATUS_PAGE.all(conn, account_id=ctx.account.id, region=ctx.region, offset=offset, limit=limit)
    return {"TotalCount": total, "InstanceStatusSet": [{"InstanceId": r.id, "InstanceState": r.state} for r in rows]}


# Automation polls DescribeInstancesStatus while it waits for a state: these are prepared statements.
def _owned_here() -> list[Any]:
    return [instances.c.account_id == sa.bindparam("account_id"), instances.c.region == sa.bindparam("region")]


STATUS_OF: Prepared[Any] = Prepared(lambda ids: sa.select(instances.c.id, instances.c.state)
                                    .where(*_owned_here(), instances.c.id.in_(each("ids", ids)))
                                    .order_by(instances.c.seq), lists=("ids",))
STATUS_COUNT: Prepared[Any] = Prepared(lambda: sa.select(sa.func.count().label("n")).select_from(instances)
                                       .where(*_owned_here()))
STATUS_PAGE: Prepared[Any] = Prepared(lambda: sa.select(instances.c.id, instances.c.state).where(*_owned_here())
                                      .order_by(instances.c.seq).offset(sa.bindparam("offset"))
                                      .limit(sa.bindparam("limit")))


def run_batch(ctx: Context, action: str, ids: list[str], *, params: lc.Params = None,
              forced: bool = False, extra: ops.Check | None = None) -> dict[str, Any]:
    """Accept an instance action for a whole batch (or none of it) and hand it to the runner."""
    with ctx.cloud.store.write() as conn:
        accepted = ops.accept(conn, account_id=ctx.account.id, region=ctx.region, action=action,
                              instance_ids=ids, request_id=ctx.request_id, params=params, forced=forced,
                              extra=extra)
    ctx.cloud.runner.submit(accepted.operation_ids)
    return {}


@CVM.action("StartInstances", m.InstanceIds)
async def start_instances(ctx: Context, req: m.InstanceIds) -> dict[str, Any]:
    return run_batch(ctx, "StartInstances", instance_ids(req.InstanceIds))


def disk_types(ctx: Context, ids: list[str]) -> dict[str, list[str]]:
    with ctx.cloud.store.read() as conn:
        result: dict[str, list[str]] = {}
        for row in conn.execute(sa.select(disks.c.instance_id, disks.c.disk_type).where(disks.c.instance_id.in_(ids))):
            result.setdefault(row.instance_id, []).append(row.disk_type)
    return result


@CVM.action("StopInstances", m.StopInstances)
async def stop_instances(ctx: Context, req: m.StopInstances) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    stop = rules.stop_type(req.StopType, req.ForceStop)
    mode = req.StoppedMode or DEFAULT_STOPPED_MODE
    extra = None
    if mode is StoppedMode.STOP_CHARGING:
        types = disk_types(ctx, ids)

        def extra(row: Any) -> Any:
            return lc.stop_charging_refusal(row.id, row.charge_type, types.get(row.id, []))

    return run_batch(ctx, "StopInstances", ids, params=lc.StopRequest(stop, mode), extra=extra)


@CVM.action("RebootInstances", m.RebootInstances)
async def reboot_instances(ctx: Context, req: m.RebootInstances) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    stop = rules.stop_type(req.StopType, req.ForceReboot, "ForceReboot")
    return run_batch(ctx, "RebootInstances", ids, params=lc.RebootRequest(stop))


@CVM.action("TerminateInstances", m.TerminateInstances)
async def terminate_instances(ctx: Context, req: m.TerminateInstances) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    with ctx.cloud.store.read() as conn:
        charges = {r.id: r.charge_type for r in conn.execute(sa.select(instances.c.id, instances.c.charge_type).where(
            instances.c.id.in_(ids), instances.c.account_id == ctx.account.id))}
    if len(set(charges.values())) > 1:
        raise ApiError("UnsupportedOperation.InstanceMixedPricingModel",
                       "Prepaid and pay-as-you-go instances cannot be terminated in one request.")

    def protected(row: Any) -> Any:
        if row.disable_api_termination:
            return Refusal(row.id, "UnsupportedOperation.InstancesProtected",
                           "termination protection is on (DisableApiTermination)")
        return None

    return run_batch(ctx, "TerminateInstances", ids, params=lc.TerminateRequest(bool(req.ReleaseAddress)),
                     extra=protected)
