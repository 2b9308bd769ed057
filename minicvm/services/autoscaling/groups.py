"""Scaling groups: their settings, desired capacity, enabling, and their activity log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import scaling as sc
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.autoscaling import models as m
from minicvm.services.autoscaling.launch_configs import owned_lc
from minicvm.services.autoscaling.service import AS
from minicvm.services.context import Context
from minicvm.store.tables import (
    group_instances,
    launch_configurations,
    lb_rules,
    listeners,
    load_balancers,
    scaling_activities,
    scaling_groups,
    subnets,
    vpcs,
)
from minicvm.timefmt import as_utc, iso, now

GROUP_QUOTA = 200


def group_id_ok(value: str) -> str:
    if not idmod.is_well_formed(value, "asg"):
        raise ApiError("InvalidParameterValue.InvalidAutoScalingGroupId", f"The group id {value!r} is malformed.")
    return value


def owned_group(conn: sa.Connection, ctx: Context, group_id: str) -> Any:
    row = conn.execute(sa.select(scaling_groups).where(
        scaling_groups.c.id == group_id_ok(group_id), scaling_groups.c.account_id == ctx.account.id,
        scaling_groups.c.region == ctx.region)).first()
    if row is None:
        raise ApiError("ResourceNotFound.AutoScalingGroupNotFound", f"The group {group_id} does not exist.")
    return row


def wake(ctx: Context, group_id: str | None = None) -> None:
    ctx.cloud.scaler.wake(group_id)


def _sizes(min_size: int, max_size: int, desired: int) -> None:
    problem = sc.size_problem(min_size, max_size, desired)
    if problem:
        raise ApiError("InvalidParameterValue.Size", problem + ".")


def _subnets(conn: sa.Connection, ctx: Context, vpc_id: str, subnet_ids: list[str] | None) -> list[str]:
    if not subnet_ids:
        raise ApiError("MissingParameter.InScenario", "A group in a VPC needs `SubnetIds`.")
    if len(set(subnet_ids)) != len(subnet_ids):
        raise ApiError("InvalidParameterValue.DuplicatedSubnet", "`SubnetIds` lists a subnet twice.")
    found = {r.id: r for r in conn.execute(sa.select(subnets).where(
        subnets.c.id.in_(subnet_ids), subnets.c.account_id == ctx.account.id))}
    bad = [s for s in subnet_ids if s not in found or found[s].vpc_id != vpc_id]
    if bad:
        raise ApiError("InvalidParameterValue.SubnetIds", f"The subnets {bad} do not exist in {vpc_id}.")
    return list(subnet_ids)


def _forward(conn: sa.Connection, ctx: Context, vpc_id: str, entries: list[m.ForwardLoadBalancer] | None
             ) -> list[dict[str, Any]]:
    result = []
    seen = set()
    for entry in entries or []:
        key = (entry.LoadBalancerId, entry.ListenerId, entry.LocationId)
        if key in seen:
            raise ApiError("InvalidParameterValue.DuplicatedForwardLb", f"{key} appears twice.")
        seen.add(key)
        lb = conn.execute(sa.select(load_balancers).where(load_balancers.c.id == entry.LoadBalancerId,
                                                          load_balancers.c.account_id == ctx.account.id)).first()
        if lb is None:
            raise ApiError("ResourceNotFound.LoadBalancerNotFound", f"The load balancer {entry.LoadBalancerId} does not exist.")
        if lb.vpc_id != vpc_id:
            raise ApiError("ResourceUnavailable.LbVpcInconsistent", f"{lb.id} is in {lb.vpc_id}, the group in {vpc_id}.")
        listener = conn.execute(sa.select(listeners).where(listeners.c.id == entry.ListenerId,
                                                           listeners.c.lb_id == lb.id)).first()
        if listener is None:
            raise ApiError("ResourceNotFound.ListenerNotFound", f"The listener {entry.ListenerId} does not exist.")
        if listener.protocol == "HTTP":
            if not entry.LocationId:
                raise ApiError("MissingParameter.InScenario", "An HTTP listener needs `LocationId`.")
            if not conn.execute(sa.select(lb_rules.c.id).where(lb_rules.c.id == entry.LocationId,
                                                               lb_rules.c.listener_id == listener.id)).first():
                raise ApiError("ResourceNotFound.LocationNotFound", f"The rule {entry.LocationId} does not exist.")
        if not entry.TargetAttributes:
            raise ApiError("MissingParameter", "`ForwardLoadBalancers.TargetAttributes` is required.")
        ports = [t.Port for t in entry.TargetAttributes]
        if len(set(ports)) != len(ports):
            raise ApiError("InvalidParameterValue.TargetPortDuplicated", "A port appears twice in `TargetAttributes`.")
        for t in entry.TargetAttributes:
            if not 1 <= t.Port <= 65535 or not 0 <= t.Weight <= 100:
                raise ApiError("InvalidParameterValue.Range", "Target ports are 1-65535 and weights 0-100.")
        result.append({"LoadBalancerId": lb.id, "ListenerId": listener.id, "LocationId": entry.LocationId or "",
                       "TargetAttributes": [{"Port": t.Port, "Weight": t.Weight} for t in entry.TargetAttributes]})
    if len(result) > 100:
        raise ApiError("InvalidParameterValue.LimitExceeded", "At most 100 forward load balancers.")
    return result


def _service_settings(given: m.ServiceSettingsStruct | None, current: dict[str, Any]) -> dict[str, Any]:
    merged = {"ReplaceMonitorUnhealthy": False, "ScalingMode": "CLASSIC_SCALING", "ReplaceLoadBalancerUnhealthy": False,
              "ReplaceMode": "RECREATE", "AutoUpdateInstanceTags": False, "DesiredCapacitySyncWithMaxMinSize": False,
              "PriorityScaleInUnhealthy": False, **current}
    if given is not None:
        merged.update({k: v for k, v in given.model_dump().items() if v is not None})
    if merged["ScalingMode"] not in ("CLASSIC_SCALING", "WAKE_UP_STOPPED_SCALING"):
        raise ApiError("InvalidParameterValue", "`ScalingMode` is CLASSIC_SCALING or WAKE_UP_STOPPED_SCALING.")
    if merged["ReplaceMode"] != "RECREATE":
        raise ApiError("InvalidParameterValue", "minicvm replaces by RECREATE (a new instance); RESET is not supported.")
    return merged


def _settings(conn: sa.Connection, ctx: Context, req: m.GroupFields, vpc_id: str, current: dict[str, Any]
              ) -> dict[str, Any]:
    settings = dict(current)
    settings["VpcId"] = vpc_id
    if req.SubnetIds is not None or "SubnetIds" not in settings:
        settings["SubnetIds"] = _subnets(conn, ctx, vpc_id, req.SubnetIds)
    if req.Zones:
        raise ApiError("InvalidParameterValue.OnlyVpc", "`Zones` is for the basic network; give `SubnetIds`.")
    if req.HealthCheckType is not None:
        if req.HealthCheckType not in ("CVM", "CLB"):
            raise ApiError("InvalidParameterValue", "`HealthCheckType` is CVM or CLB.")
        settings["HealthCheckType"] = req.HealthCheckType
    settings.setdefault("HealthCheckType", "CLB")
    if req.LoadBalancerHealthCheckGracePeriod is not None:
        if not 0 <= req.LoadBalancerHealthCheckGracePeriod <= 7200:
            raise ApiError("InvalidParameterValue.Range", "`LoadBalancerHealthCheckGracePeriod` is 0-7200 seconds.")
        settings["LoadBalancerHealthCheckGracePeriod"] = req.LoadBalancerHealthCheckGracePeriod
    settings.setdefault("LoadBalancerHealthCheckGracePeriod", 0)
    if req.DefaultCooldown is not None:
        if not 0 <= req.DefaultCooldown <= 3600:
            raise ApiError("InvalidParameterValue.Range", "`DefaultCooldown` is 0-3600 seconds.")
        settings["DefaultCooldown"] = req.DefaultCooldown
    settings.setdefault("DefaultCooldown", 300)
    if req.RetryPolicy is not None:
        if req.RetryPolicy not in ("IMMEDIATE_RETRY", "INCREMENTAL_INTERVALS", "NO_RETRY"):
            raise ApiError("InvalidParameterValue", "`RetryPolicy` is IMMEDIATE_RETRY, INCREMENTAL_INTERVALS or NO_RETRY.")
        settings["RetryPolicy"] = req.RetryPolicy
    settings.setdefault("RetryPolicy", "IMMEDIATE_RETRY")
    if req.TerminationPolicies is not None:
        if len(req.TerminationPolicies) != 1 or req.TerminationPolicies[0] not in ("OLDEST_INSTANCE", "NEWEST_INSTANCE"):
            raise ApiError("InvalidParameterValue", "`TerminationPolicies` is one of OLDEST_INSTANCE, NEWEST_INSTANCE.")
        settings["TerminationPolicies"] = list(req.TerminationPolicies)
    settings.setdefault("TerminationPolicies", ["OLDEST_INSTANCE"])
    if req.MultiZoneSubnetPolicy is not None:
        if req.MultiZoneSubnetPolicy not in ("PRIORITY", "EQUALITY"):
            raise ApiError("InvalidParameterValue", "`MultiZoneSubnetPolicy` is PRIORITY or EQUALITY.")
        settings["MultiZoneSubnetPolicy"] = req.MultiZoneSubnetPolicy
    settings.setdefault("MultiZoneSubnetPolicy", "PRIORITY")
    if req.InstanceAllocationPolicy not in (None, "LAUNCH_CONFIGURATION"):
        raise ApiError("InvalidParameterValue", "minicvm groups launch from their launch configuration only.")
    settings["ServiceSettings"] = _service_settings(req.ServiceSettings, current.get("ServiceSettings", {}))
    return settings


def _vpc(conn: sa.Connection, ctx: Context, vpc_id: str) -> str:
    if not conn.execute(sa.select(vpcs.c.id).where(vpcs.c.id == vpc_id, vpcs.c.account_id == ctx.account.id,
                                                   vpcs.c.region == ctx.region)).first():
        raise ApiError("InvalidParameterValue.SubnetIds", f"The VPC {vpc_id} does not exist.")
    return vpc_id


def _name_free(conn: sa.Connection, ctx: Context, name: str, except_id: str | None = None) -> str:
    if not name or len(name.encode()) > 55:
        raise ApiError("InvalidParameterValue.TooLong", "`AutoScalingGroupName` must be 1-55 bytes.")
    c = scaling_groups.c
    clash = conn.execute(sa.select(c.id).where(c.account_id == ctx.account.id, c.region == ctx.region, c.name == name,
                                               c.id != (except_id or ""))).first()
    if clash:
        raise ApiError("InvalidParameterValue.GroupNameDuplicated", f"A group named {name!r} already exists.")
    return name


@AS.action("CreateAutoScalingGroup", m.CreateAutoScalingGroup)
async def create_group(ctx: Context, req: m.CreateAutoScalingGroup) -> dict[str, Any]:
    if req.LoadBalancerIds:
        raise ApiError("InvalidParameterValue.ClassicLb", "Classic load balancers are retired; use `ForwardLoadBalancers`.")
    desired = req.MinSize if req.DesiredCapacity is None else req.DesiredCapacity
    _sizes(req.MinSize, req.MaxSize, desired)
    with ctx.cloud.store.write() as conn:
        name = _name_free(conn, ctx, req.AutoScalingGroupName)
        lc_row = owned_lc(conn, ctx, req.LaunchConfigurationId)
        vpc_id = _vpc(conn, ctx, req.VpcId)
        settings = _settings(conn, ctx, req, vpc_id, {})
        settings["ForwardLoadBalancers"] = _forward(conn, ctx, vpc_id, req.ForwardLoadBalancers)
        settings["Tags"] = [{"Key": t.Key, "Value": t.Value, "ResourceType": "auto-scaling-group"} for t in req.Tags or []]
        count = conn.execute(sa.select(sa.func.count()).select_from(scaling_groups).where(
            scaling_groups.c.account_id == ctx.account.id)).scalar_one()
        if count >= GROUP_QUOTA:
            raise ApiError("LimitExceeded.AutoScalingGroupLimitExceeded", f"At most {GROUP_QUOTA} groups.")
        group_id = idmod.new_id("asg")
        conn.execute(scaling_groups.insert().values(
            id=group_id, account_id=ctx.account.id, region=ctx.region, name=name, launch_configuration_id=lc_row.id,
            min_size=req.MinSize, max_size=req.MaxSize, desired=desired, settings=settings, enabled=True,
            created_time=now()))
    wake(ctx)
    return {"AutoScalingGroupId": group_id}


def group_view(row: Any, lc_name: str, members: list[Any], active: bool) -> dict[str, Any]:
    s = row.settings
    return {
        "AutoScalingGroupId": row.id, "AutoScalingGroupName": row.name, "AutoScalingGroupStatus": "NORMAL",
        "CreatedTime": iso(row.created_time), "DefaultCooldown": s["DefaultCooldown"], "DesiredCapacity": row.desired,
        "EnabledStatus": "ENABLED" if row.enabled else "DISABLED",
        "ForwardLoadBalancerSet": [{**f, "Region": ""} for f in s.get("ForwardLoadBalancers", [])],
        "InstanceCount": len(members),
        "InServiceInstanceCount": sum(1 for m in members if m.life_cycle_state == sc.IN_SERVICE),
        "LaunchConfigurationId": row.launch_configuration_id, "LaunchConfigurationName": lc_name,
        "LoadBalancerIdSet": [], "MaxSize": row.max_size, "MinSize": row.min_size, "ProjectId": 0,
        "SubnetIdSet": s["SubnetIds"], "TerminationPolicySet": s["TerminationPolicies"], "VpcId": s["VpcId"],
        "ZoneSet": [], "RetryPolicy": s["RetryPolicy"], "InActivityStatus": "IN_ACTIVITY" if active else "NOT_IN_ACTIVITY",
        "Tags": s.get("Tags", []), "ServiceSettings": s["ServiceSettings"], "Ipv6AddressCount": 0,
        "MultiZoneSubnetPolicy": s["MultiZoneSubnetPolicy"], "HealthCheckType": s["HealthCheckType"],
        "LoadBalancerHealthCheckGracePeriod": s["LoadBalancerHealthCheckGracePeriod"],
        "InstanceAllocationPolicy": "LAUNCH_CONFIGURATION", "CapacityRebalance": False,
    }


@AS.action("DescribeAutoScalingGroups", m.DescribeAutoScalingGroups)
async def describe_groups(ctx: Context, req: m.DescribeAutoScalingGroups) -> dict[str, Any]:
    if req.AutoScalingGroupIds and req.Filters:
        raise ApiError("InvalidParameter.Conflict", "`AutoScalingGroupIds` and `Filters` cannot be used together.")
    wanted = [group_id_ok(g) for g in req.AutoScalingGroupIds or []]
    filters = common.check_filters(req.Filters, ("auto-scaling-group-id", "auto-scaling-group-name",
                                                 "vague-auto-scaling-group-name", "launch-configuration-id", "tag-key",
                                                 "tag-value"), unknown_code="InvalidParameterValue.InvalidFilter",
                                   values_code="LimitExceeded.FilterValuesTooLong")
    offset, limit = common.paging(req.Offset, req.Limit)
    c = scaling_groups.c
    where: list[Any] = [c.account_id == ctx.account.id, c.region == ctx.region]
    if wanted:
        where.append(c.id.in_(wanted))
    for fname, values in filters.items():
        if fname == "auto-scaling-group-id":
            where.append(c.id.in_(values))
        elif fname == "auto-scaling-group-name":
            where.append(c.name.in_(values))
        elif fname == "vague-auto-scaling-group-name":
            where.append(sa.or_(*[c.name.contains(v, autoescape=True) for v in values]))
        elif fname == "launch-configuration-id":
            where.append(c.launch_configuration_id.in_(values))
        else:
            where.append(sa.false())
    with ctx.cloud.store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(scaling_groups).where(*where)).scalar_one()
        rows = list(conn.execute(sa.select(scaling_groups).where(*where).order_by(c.seq).offset(offset).limit(limit)))
        lc_names = dict(conn.execute(sa.select(launch_configurations.c.id, launch_configurations.c.name)).all())
        views = []
        for row in rows:
            members = list(conn.execute(sa.select(group_instances).where(group_instances.c.group_id == row.id)))
            active = conn.execute(sa.select(scaling_activities.c.id).where(
                scaling_activities.c.group_id == row.id, scaling_activities.c.status_code == "RUNNING")).first()
            views.append(group_view(row, lc_names.get(row.launch_configuration_id, ""), members, active is not None))
    return {"AutoScalingGroupSet": views, "TotalCount": total}


@AS.action("ModifyAutoScalingGroup", m.ModifyAutoScalingGroup)
async def modify_group(ctx: Context, req: m.ModifyAutoScalingGroup) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        row = owned_group(conn, ctx, req.AutoScalingGroupId)
        values: dict[str, Any] = {}
        if req.AutoScalingGroupName is not None:
            values["name"] = _name_free(conn, ctx, req.AutoScalingGroupName, row.id)
        if req.LaunchConfigurationId is not None:
            values["launch_configuration_id"] = owned_lc(conn, ctx, req.LaunchConfigurationId).id
        min_size = row.min_size if req.MinSize is None else req.MinSize
        max_size = row.max_size if req.MaxSize is None else req.MaxSize
        desired = row.desired if req.DesiredCapacity is None else req.DesiredCapacity
        sync = row.settings.get("ServiceSettings", {}).get("DesiredCapacitySyncWithMaxMinSize")
        if req.DesiredCapacity is None and sync:
            desired = min(max(desired, min_size), max_size)
        _sizes(min_size, max_size, desired)
        values.update(min_size=min_size, max_size=max_size, desired=desired)
        vpc_id = row.settings["VpcId"]
        if req.VpcId is not None and req.VpcId != vpc_id:
            if row.settings.get("ForwardLoadBalancers"):
                raise ApiError("ResourceUnavailable.ForbiddenModifyVpc", "Unbind the load balancers before moving VPCs.")
            vpc_id = _vpc(conn, ctx, req.VpcId)
            if req.SubnetIds is None:
                raise ApiError("MissingParameter.InScenario", "Moving to another VPC needs new `SubnetIds`.")
        values["settings"] = _settings(conn, ctx, req, vpc_id, dict(row.settings))
        conn.execute(scaling_groups.update().where(scaling_groups.c.id == row.id).values(**values))
    wake(ctx, row.id)
    return {}


@AS.action("ModifyDesiredCapacity", m.ModifyDesiredCapacity)
async def modify_desired_capacity(ctx: Context, req: m.ModifyDesiredCapacity) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        row = owned_group(conn, ctx, req.AutoScalingGroupId)
        if not row.enabled:
            raise ApiError("ResourceUnavailable.AutoScalingGroupDisabled", f"The group {row.id} is disabled.")
        min_size = row.min_size if req.MinSize is None else req.MinSize
        max_size = row.max_size if req.MaxSize is None else req.MaxSize
        _sizes(min_size, max_size, req.DesiredCapacity)
        conn.execute(scaling_groups.update().where(scaling_groups.c.id == row.id).values(
            desired=req.DesiredCapacity, min_size=min_size, max_size=max_size))
    wake(ctx, row.id)
    return {}


@AS.action("EnableAutoScalingGroup", m.GroupId)
async def enable_group(ctx: Context, req: m.GroupId) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        row = owned_group(conn, ctx, req.AutoScalingGroupId)
        conn.execute(scaling_groups.update().where(scaling_groups.c.id == row.id).values(enabled=True))
    wake(ctx, row.id)
    return {}


@AS.action("DisableAutoScalingGroup", m.GroupId)
async def disable_group(ctx: Context, req: m.GroupId) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        row = owned_group(conn, ctx, req.AutoScalingGroupId)
        conn.execute(scaling_groups.update().where(scaling_groups.c.id == row.id).values(enabled=False))
    return {}


@AS.action("DeleteAutoScalingGroup", m.GroupId)
async def delete_group(ctx: Context, req: m.GroupId) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        row = owned_group(conn, ctx, req.AutoScalingGroupId)
        members = conn.execute(sa.select(group_instances.c.instance_id).where(
            group_instances.c.group_id == row.id)).scalars().all()
        if members:
            raise ApiError("ResourceInUse.InstanceInGroup",
                           f"The group still has instances {members}; set DesiredCapacity and MinSize to 0 first.")
        conn.execute(scaling_groups.delete().where(scaling_groups.c.id == row.id))
    return {}


def activity_view(row: Any) -> dict[str, Any]:
    related = [dict(i) for i in row.instances]
    return {
        "AutoScalingGroupId": row.group_id, "ActivityId": row.id, "ActivityType": row.activity_type,
        "StatusCode": row.status_code, "StatusMessage": row.status_message, "Cause": row.cause,
        "Description": row.description, "StartTime": iso(row.start_time), "EndTime": iso(row.end_time),
        "CreatedTime": iso(row.start_time), "ActivityRelatedInstanceSet": related,
        "StatusMessageSimplified": row.status_message, "LifecycleActionResultSet": [], "DetailedStatusMessageSet": [],
        "InvocationResultSet": [], "RelatedInstanceSet": related,
    }


def _time(value: str, name: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ApiError("InvalidParameterValue", f"`{name}` must be an ISO 8601 time such as 2026-01-01T00:00:00Z.") from None


@AS.action("DescribeAutoScalingActivities", m.DescribeAutoScalingActivities)
async def describe_activities(ctx: Context, req: m.DescribeAutoScalingActivities) -> dict[str, Any]:
    if req.ActivityIds and req.Filters:
        raise ApiError("InvalidParameter.Conflict", "`ActivityIds` and `Filters` cannot be used together.")
    bad = [a for a in req.ActivityIds or [] if not idmod.is_well_formed(a, "asa")]
    if bad:
        raise ApiError("InvalidParameterValue.InvalidActivityId", f"The activity ids {bad} are malformed.")
    filters = common.check_filters(req.Filters, ("auto-scaling-group-id", "activity-status-code", "activity-type",
                                                 "activity-id"), unknown_code="InvalidParameterValue.InvalidFilter",
                                   values_code="LimitExceeded.FilterValuesTooLong")
    offset, limit = common.paging(req.Offset, req.Limit)
    c = scaling_activities.c
    where: list[Any] = [c.account_id == ctx.account.id]
    if req.ActivityIds:
        where.append(c.id.in_(req.ActivityIds))
    else:
        if req.StartTime:
            where.append(c.start_time >= _time(req.StartTime, "StartTime"))
        if req.EndTime:
            where.append(c.start_time <= _time(req.EndTime, "EndTime"))
    columns = {"auto-scaling-group-id": c.group_id, "activity-status-code": c.status_code,
               "activity-type": c.activity_type, "activity-id": c.id}
    for fname, values in filters.items():
        where.append(columns[fname].in_(values))
    with ctx.cloud.store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(scaling_activities).where(*where)).scalar_one()
        rows = conn.execute(sa.select(scaling_activities).where(*where).order_by(c.seq.desc()).offset(offset).limit(limit))
        return {"TotalCount": total, "ActivitySet": [activity_view(r) for r in rows]}
