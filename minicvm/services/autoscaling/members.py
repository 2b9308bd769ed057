"""Members of a group: attach, detach, remove, stop and start through AS, protection, listing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm.domain import lifecycle as lc
from minicvm.domain import scaling as sc
from minicvm.domain.states import DEFAULT_STOPPED_MODE, FORCED_STOP_TYPE, StoppedMode
from minicvm.engine import operations as ops
from minicvm.engine.scaling import activities, membership
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.autoscaling import models as m
from minicvm.services.autoscaling.groups import owned_group, wake
from minicvm.services.autoscaling.service import AS
from minicvm.services.context import Context
from minicvm.store.tables import disks, group_instances, instances, launch_configurations, scaling_groups
from minicvm.timefmt import iso, now


def _ids(values: list[str]) -> list[str]:
    return common.check_ids(values, "ins", "InstanceIds", "InvalidParameterValue.InvalidInstanceId")


def _members(conn: sa.Connection, group: Any, wanted: list[str]) -> dict[str, Any]:
    rows = {r.instance_id: r for r in conn.execute(sa.select(group_instances).where(
        group_instances.c.group_id == group.id, group_instances.c.instance_id.in_(wanted)))}
    outside = [i for i in wanted if i not in rows]
    if outside:
        raise ApiError("ResourceNotFound.InstancesNotInAutoScalingGroup", f"The instances {outside} are not in {group.id}.")
    return rows


def _busy(rows: dict[str, Any], allowed: frozenset[str] | set[str]) -> None:
    busy = [f"{i} is {r.life_cycle_state}" for i, r in rows.items() if r.life_cycle_state not in allowed]
    if busy:
        raise ApiError("ResourceUnavailable.InstanceInOperation", "Instances busy: " + "; ".join(busy) + ".")


def _set_desired(conn: sa.Connection, group: Any, desired: int) -> None:
    conn.execute(scaling_groups.update().where(scaling_groups.c.id == group.id).values(desired=desired))


def _check_min(conn: sa.Connection, group: Any, leaving: list[str]) -> None:
    in_service = conn.execute(sa.select(group_instances.c.instance_id).where(
        group_instances.c.group_id == group.id, group_instances.c.life_cycle_state == sc.IN_SERVICE)).scalars().all()
    if group.enabled and len(set(in_service) - set(leaving)) < group.min_size:
        raise ApiError("ResourceInsufficient.InServiceInstanceBelowMinSize",
                       f"Fewer than MinSize ({group.min_size}) instances would remain in service.")
    if group.desired - len(leaving) < group.min_size:
        raise ApiError("ResourceInsufficient.AutoScalingGroupBelowMinSize",
                       f"DesiredCapacity would drop below MinSize ({group.min_size}).")


@AS.action("AttachInstances", m.GroupInstances)
async def attach_instances(ctx: Context, req: m.GroupInstances) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    with ctx.cloud.store.write() as conn:
        group = owned_group(conn, ctx, req.AutoScalingGroupId)
        found = {r.id: r for r in conn.execute(sa.select(instances).where(
            instances.c.id.in_(wanted), instances.c.account_id == ctx.account.id, instances.c.region == ctx.region))}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise ApiError("ResourceNotFound.InstancesNotFound", f"The instances {missing} do not exist.")
        taken = conn.execute(sa.select(group_instances.c.instance_id).where(
            group_instances.c.instance_id.in_(wanted))).scalars().all()
        if taken:
            raise ApiError("ResourceUnavailable.InstancesAlreadyInAutoScalingGroup", f"{taken} are already in a group.")
        for i in wanted:
            if found[i].state not in (lc.RUNNING, lc.STOPPED) or found[i].latest_operation_state == lc.OPERATING:
                raise ApiError("ResourceUnavailable.InstanceCannotAttach", f"{i} is {found[i].state}; only RUNNING or "
                               "STOPPED instances can be attached.")
            if found[i].vpc_id != group.settings["VpcId"]:
                raise ApiError("ResourceUnavailable.CvmVpcInconsistent",
                               f"{i} is not in the group's VPC {group.settings['VpcId']}.")
        if group.desired + len(wanted) > group.max_size:
            raise ApiError("ResourceInsufficient.AutoScalingGroupAboveMaxSize",
                           f"DesiredCapacity would exceed MaxSize ({group.max_size}).")
        act = activities.start(conn, group_id=group.id, account_id=ctx.account.id, activity_type="ATTACH_INSTANCES",
                               cause=f"AttachInstances was called for {', '.join(wanted)}.",
                               description=f"Attach {len(wanted)} instance(s) to the group.", instance_ids=wanted)
        config = conn.execute(sa.select(launch_configurations.c.version).where(
            launch_configurations.c.id == group.launch_configuration_id)).scalar() or 1
        for i in wanted:
            conn.execute(group_instances.insert().values(
                instance_id=i, group_id=group.id, account_id=ctx.account.id,
                launch_configuration_id=group.launch_configuration_id, version=config, creation_type="MANUAL_ATTACHING",
                life_cycle_state=sc.ATTACHING, health_status=sc.HEALTHY, protected=False, activity_id=act,
                unreachable_count=0, added_time=now()))
        _set_desired(conn, group, group.desired + len(wanted))
    wake(ctx)
    return {"ActivityId": act}


def _leave(ctx: Context, req: m.GroupInstances, activity_type: str, destroy_own: bool) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    with ctx.cloud.store.write() as conn:
        group = owned_group(conn, ctx, req.AutoScalingGroupId)
        rows = _members(conn, group, wanted)
        _busy(rows, {sc.IN_SERVICE, sc.STOPPED, sc.CREATION_FAILED})
        counted = [i for i in wanted if rows[i].life_cycle_state in sc.COUNTED]
        _check_min(conn, group, counted)
        verb = "Remove" if destroy_own else "Detach"
        act = activities.start(conn, group_id=group.id, account_id=ctx.account.id, activity_type=activity_type,
                               cause=f"{verb}Instances was called for {', '.join(wanted)}.",
                               description=f"{verb} {len(wanted)} instance(s): "
                                           + ("instances the group created are terminated, attached ones detached."
                                              if destroy_own else "they keep running outside the group."),
                               instance_ids=wanted)
        for i in wanted:
            membership.deregister(conn, group.settings, i)
            terminate = destroy_own and rows[i].creation_type == "AUTO_CREATION"
            conn.execute(group_instances.update().where(group_instances.c.instance_id == i).values(
                life_cycle_state=sc.TERMINATING if terminate else sc.DETACHING, activity_id=act))
        _set_desired(conn, group, group.desired - len(counted))
    wake(ctx)
    return {"ActivityId": act}


@AS.action("DetachInstances", m.GroupInstances)
async def detach_instances(ctx: Context, req: m.GroupInstances) -> dict[str, Any]:
    result = _leave(ctx, req, "DETACH_INSTANCES", destroy_own=False)
    await ctx.cloud.clb.sync()
    return result


@AS.action("RemoveInstances", m.GroupInstances)
async def remove_instances(ctx: Context, req: m.GroupInstances) -> dict[str, Any]:
    result = _leave(ctx, req, "REMOVE_INSTANCES", destroy_own=True)
    await ctx.cloud.clb.sync()
    return result


@AS.action("StopAutoScalingInstances", m.StopAutoScalingInstances)
async def stop_instances(ctx: Context, req: m.StopAutoScalingInstances) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    mode = req.StoppedMode or DEFAULT_STOPPED_MODE
    with ctx.cloud.store.write() as conn:
        group = owned_group(conn, ctx, req.AutoScalingGroupId)
        rows = _members(conn, group, wanted)
        _busy(rows, {sc.IN_SERVICE})
        if group.desired - len(wanted) < group.min_size:
            raise ApiError("ResourceInsufficient.AutoScalingGroupBelowMinSize",
                           f"Stopping {len(wanted)} would take DesiredCapacity below MinSize ({group.min_size}).")
        if mode is StoppedMode.STOP_CHARGING:
            for inst in conn.execute(sa.select(instances).where(instances.c.id.in_(wanted))):
                types = conn.execute(sa.select(disks.c.disk_type).where(disks.c.instance_id == inst.id)).scalars().all()
                refused = lc.stop_charging_refusal(inst.id, inst.charge_type, list(types))
                if refused:
                    raise ApiError("ResourceUnavailable.InstanceNotSupportStopCharging", refused.reason)
        act = activities.start(conn, group_id=group.id, account_id=ctx.account.id, activity_type="STOP_INSTANCES",
                               cause=f"StopAutoScalingInstances was called for {', '.join(wanted)}.",
                               description=f"Stop {len(wanted)} instance(s) (SOFT_FIRST, {mode}); DesiredCapacity "
                                           f"{group.desired} -> {group.desired - len(wanted)}; they are not replaced.",
                               instance_ids=wanted)
        for i in wanted:
            membership.deregister(conn, group.settings, i)
            conn.execute(group_instances.update().where(group_instances.c.instance_id == i).values(
                life_cycle_state=sc.STOPPING, activity_id=act))
        _set_desired(conn, group, group.desired - len(wanted))
        accepted = ops.accept(conn, account_id=ctx.account.id, region=ctx.region, action="StopInstances",
                              instance_ids=wanted, request_id=ctx.request_id,
                              params=lc.StopRequest(FORCED_STOP_TYPE, mode))
    await ctx.cloud.clb.sync()
    ctx.cloud.runner.submit(accepted.operation_ids)
    return {"ActivityId": act}


@AS.action("StartAutoScalingInstances", m.GroupInstances)
async def start_instances(ctx: Context, req: m.GroupInstances) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    with ctx.cloud.store.write() as conn:
        group = owned_group(conn, ctx, req.AutoScalingGroupId)
        rows = _members(conn, group, wanted)
        _busy(rows, {sc.STOPPED})
        if group.desired + len(wanted) > group.max_size:
            raise ApiError("ResourceInsufficient.AutoScalingGroupAboveMaxSize",
                           f"Starting {len(wanted)} would take DesiredCapacity above MaxSize ({group.max_size}).")
        act = activities.start(conn, group_id=group.id, account_id=ctx.account.id, activity_type="START_INSTANCES",
                               cause=f"StartAutoScalingInstances was called for {', '.join(wanted)}.",
                               description=f"Start {len(wanted)} instance(s); DesiredCapacity {group.desired} -> "
                                           f"{group.desired + len(wanted)}.", instance_ids=wanted)
        for i in wanted:
            conn.execute(group_instances.update().where(group_instances.c.instance_id == i).values(
                life_cycle_state=sc.STARTING, activity_id=act))
        _set_desired(conn, group, group.desired + len(wanted))
        accepted = ops.accept(conn, account_id=ctx.account.id, region=ctx.region, action="StartInstances",
                              instance_ids=wanted, request_id=ctx.request_id)
    ctx.cloud.runner.submit(accepted.operation_ids)
    wake(ctx)
    return {"ActivityId": act}


@AS.action("SetInstancesProtection", m.SetInstancesProtection)
async def set_protection(ctx: Context, req: m.SetInstancesProtection) -> dict[str, Any]:
    wanted = _ids(req.InstanceIds)
    with ctx.cloud.store.write() as conn:
        group = owned_group(conn, ctx, req.AutoScalingGroupId)
        _members(conn, group, wanted)
        conn.execute(group_instances.update().where(group_instances.c.instance_id.in_(wanted)).values(
            protected=req.ProtectedFromScaleIn))
    return {}


@AS.action("DescribeAutoScalingInstances", m.DescribeAutoScalingInstances)
async def describe_members(ctx: Context, req: m.DescribeAutoScalingInstances) -> dict[str, Any]:
    if req.InstanceIds and req.Filters:
        raise ApiError("InvalidParameter.Conflict", "`InstanceIds` and `Filters` cannot be used together.")
    wanted = common.check_ids(req.InstanceIds, "ins", "InstanceIds", "InvalidParameterValue.InvalidInstanceId",
                              required=False)
    filters = common.check_filters(req.Filters, ("instance-id", "auto-scaling-group-id", "private-ip-address"),
                                   unknown_code="InvalidParameterValue.InvalidFilter",
                                   values_code="LimitExceeded.FilterValuesTooLong")
    offset, limit = common.paging(req.Offset, req.Limit)
    gi = group_instances.c
    where: list[Any] = [gi.account_id == ctx.account.id]
    if wanted:
        where.append(gi.instance_id.in_(wanted))
    if "instance-id" in filters:
        where.append(gi.instance_id.in_(filters["instance-id"]))
    if "auto-scaling-group-id" in filters:
        where.append(gi.group_id.in_(filters["auto-scaling-group-id"]))
    if "private-ip-address" in filters:
        where.append(gi.instance_id.in_(sa.select(instances.c.id).where(
            instances.c.private_ip.in_(filters["private-ip-address"]))))
    with ctx.cloud.store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(group_instances).where(*where)).scalar_one()
        rows = list(conn.execute(sa.select(group_instances).where(*where).order_by(gi.added_time, gi.instance_id)
                                 .offset(offset).limit(limit)))
        groups = {g.id: g for g in conn.execute(sa.select(scaling_groups.c.id, scaling_groups.c.name).where(
            scaling_groups.c.id.in_({r.group_id for r in rows})))}
        configs = dict(conn.execute(sa.select(launch_configurations.c.id, launch_configurations.c.name)).all())
        insts = {r.id: r for r in conn.execute(sa.select(instances.c.id, instances.c.zone, instances.c.instance_type).where(
            instances.c.id.in_([r.instance_id for r in rows])))}
    return {"TotalCount": total, "AutoScalingInstanceSet": [
        {"InstanceId": r.instance_id, "AutoScalingGroupId": r.group_id, "AutoScalingGroupName": groups[r.group_id].name,
         "LaunchConfigurationId": r.launch_configuration_id,
         "LaunchConfigurationName": configs.get(r.launch_configuration_id, ""), "LifeCycleState": r.life_cycle_state,
         "HealthStatus": r.health_status, "ProtectedFromScaleIn": r.protected,
         "Zone": insts[r.instance_id].zone if r.instance_id in insts else "", "CreationType": r.creation_type,
         "AddTime": iso(r.added_time),
         "InstanceType": insts[r.instance_id].instance_type if r.instance_id in insts else "",
         "VersionNumber": r.version, "WarmupStatus": "NO_NEED_WARMUP", "DisasterRecoverGroupIds": []}
        for r in rows]}

