"""Auto Scaling state: launch configurations, groups, their members and activities, for one caller in
one region. Handlers give it checked, typed arguments (specs.py built the stored documents); it answers
with store rows or small records of them, or a Tencent-style refusal, and wakes the reconciler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from minicvm import errors
from minicvm import ids as idmod
from minicvm.domain import lifecycle as lc
from minicvm.domain import scaling as sc
from minicvm.domain.states import FORCED_STOP_TYPE, StoppedMode
from minicvm.engine import operations as ops
from minicvm.engine.scaling import activities, membership
from minicvm.errors import ApiError
from minicvm.services import listing
from minicvm.services.autoscaling.specs import ForwardEntry, sizes
from minicvm.services.context import Context
from minicvm.services.owned import Owned, Scope
from minicvm.store.rows import (
    GroupInstance,
    Instance,
    KeyPair,
    LaunchConfiguration,
    LbRule,
    Listener,
    LoadBalancer,
    ScalingActivity,
    ScalingGroup,
    Subnet,
    Vpc,
    fetch,
)
from minicvm.store.tables import (
    disks,
    group_instances,
    instances,
    key_pairs,
    launch_configurations,
    lb_rules,
    listeners,
    load_balancers,
    scaling_activities,
    scaling_groups,
    subnets,
    vpcs,
)
from minicvm.timefmt import now

LC_QUOTA = 50
GROUP_QUOTA = 200

LAUNCH_CONFIGS = Owned(launch_configurations, LaunchConfiguration, "InvalidParameterValue.LaunchConfigurationNotFound",
                       "launch configuration", "launch configurations")
GROUPS = Owned(scaling_groups, ScalingGroup, "ResourceNotFound.AutoScalingGroupNotFound", "group", "groups")
KEY_PAIRS = Owned(key_pairs, KeyPair, "InvalidParameterValue.CvmConfigurationError", "key pair", "key pairs")
VPCS = Owned(vpcs, Vpc, "InvalidParameterValue.SubnetIds", "VPC", "VPCs")
INSTANCES = Owned(instances, Instance, "ResourceNotFound.InstancesNotFound", "instance", "instances")

_lc, _g, _gi, _act = launch_configurations.c, scaling_groups.c, group_instances.c, scaling_activities.c


def _vague(column: sa.ColumnElement[str]) -> Callable[[list[str]], listing.Clause]:
    return lambda values: sa.or_(*[column.contains(v, autoescape=True) for v in values])


LC_FILTERS = {"launch-configuration-id": _lc.id, "launch-configuration-name": _lc.name}
LC_SPECIAL = {"vague-launch-configuration-name": _vague(_lc.name)}
GROUP_FILTERS = {"auto-scaling-group-id": _g.id, "auto-scaling-group-name": _g.name,
                 "launch-configuration-id": _g.launch_configuration_id}
GROUP_SPECIAL = {"vague-auto-scaling-group-name": _vague(_g.name)}
ACTIVITY_FILTERS = {"auto-scaling-group-id": _act.group_id, "activity-status-code": _act.status_code,
                    "activity-type": _act.activity_type, "activity-id": _act.id}
MEMBER_FILTERS = {"instance-id": _gi.instance_id, "auto-scaling-group-id": _gi.group_id}
MEMBER_SPECIAL = {"private-ip-address": lambda values: _gi.instance_id.in_(
    sa.select(instances.c.id).where(instances.c.private_ip.in_(values)))}

SpecChange = Callable[[dict[str, Any]], dict[str, Any]]
SettingsChange = Callable[[str, dict[str, Any]], dict[str, Any]]  # (VPC id, current settings) -> settings


@dataclass(frozen=True)
class LaunchConfigurationListing:
    row: LaunchConfiguration
    groups: list[dict[str, str]]  # the groups using it, as AutoScalingGroupAbstractSet shows them


@dataclass(frozen=True)
class GroupListing:
    row: ScalingGroup
    lc_name: str
    members: list[GroupInstance]
    in_activity: bool


@dataclass(frozen=True)
class MemberListing:
    row: GroupInstance
    group_name: str
    lc_name: str
    instance: Instance | None


@dataclass(frozen=True)
class GroupChange:
    """ModifyAutoScalingGroup's changes; None leaves a value as it is."""

    name: str | None
    lc_id: str | None
    min_size: int | None
    max_size: int | None
    desired: int | None
    vpc_id: str | None
    subnets_given: bool
    settings: SettingsChange


class AutoScalingBackend:
    def __init__(self, ctx: Context) -> None:
        self.cloud = ctx.cloud
        self.scope = Scope(ctx.account.id, ctx.region)
        self.request_id = ctx.request_id

    def _wake(self, group_id: str | None = None) -> None:
        self.cloud.scaler.wake(group_id)

    def _lc_names(self, conn: sa.Connection) -> dict[str, str]:
        return dict(conn.execute(sa.select(_lc.id, _lc.name)).all())  # type: ignore[arg-type]

    # Launch configurations

    def _check_keys(self, conn: sa.Connection, spec: dict[str, Any]) -> None:
        for key_id in spec["LoginSettings"]["KeyIds"]:
            KEY_PAIRS.one(conn, self.scope, key_id)

    def create_launch_configuration(self, name: str, spec: dict[str, Any]) -> str:
        with self.cloud.store.write() as conn:
            self._check_keys(conn, spec)
            if conn.execute(sa.select(_lc.id).where(_lc.account_id == self.scope.account_id,
                                                    _lc.region == self.scope.region, _lc.name == name)).first():
                raise ApiError("InvalidParameterValue.LaunchConfigurationNameDuplicated",
                               f"A launch configuration named {name!r} already exists.")
            if LAUNCH_CONFIGS.count(conn, self.scope) >= LC_QUOTA:
                raise ApiError("LimitExceeded.LaunchConfigurationQuotaNotEnough",
                               f"At most {LC_QUOTA} launch configurations.")
            lc_id = idmod.new_id("asc")
            ts = now()
            conn.execute(launch_configurations.insert().values(
                id=lc_id, account_id=self.scope.account_id, region=self.scope.region, name=name, spec=spec, version=1,
                created_time=ts, updated_time=ts))
        return lc_id

    def describe_launch_configurations(self, ids: list[str], filters: dict[str, list[str]], offset: int,
                                       limit: int) -> tuple[int, list[LaunchConfigurationListing]]:
        where = [_lc.account_id == self.scope.account_id, _lc.region == self.scope.region]
        if ids:
            where.append(_lc.id.in_(ids))
        where += listing.filter_clauses(filters, LC_FILTERS, LC_SPECIAL)
        with self.cloud.store.read() as conn:
            total, rows = listing.page(conn, launch_configurations, LaunchConfiguration, where, [_lc.seq], offset,
                                       limit)
            users: dict[str, list[dict[str, str]]] = {}
            for g in conn.execute(sa.select(_g.id, _g.name, _g.launch_configuration_id)
                                  .where(_g.account_id == self.scope.account_id)):
                users.setdefault(g.launch_configuration_id, []).append(
                    {"AutoScalingGroupId": g.id, "AutoScalingGroupName": g.name})
        return total, [LaunchConfigurationListing(r, users.get(r.id, [])) for r in rows]

    def modify_launch_configuration(self, lc_id: str, name: str | None, change: SpecChange) -> None:
        with self.cloud.store.write() as conn:
            row = LAUNCH_CONFIGS.one(conn, self.scope, lc_id)
            spec = change(dict(row.spec))
            self._check_keys(conn, spec)
            values: dict[str, Any] = {"spec": spec, "version": row.version + 1, "updated_time": now()}
            if name is not None:
                values["name"] = name
            conn.execute(launch_configurations.update().where(_lc.id == row.id).values(**values))

    def delete_launch_configuration(self, lc_id: str) -> None:
        with self.cloud.store.write() as conn:
            row = LAUNCH_CONFIGS.one(conn, self.scope, lc_id)
            users = conn.execute(sa.select(_g.id).where(_g.launch_configuration_id == row.id)).scalars().all()
            if users:
                raise ApiError("ResourceInUse.LaunchConfigurationIdInUse", f"The groups {users} still use {row.id}.")
            conn.execute(launch_configurations.delete().where(_lc.id == row.id))

    # Groups

    def _name_free(self, conn: sa.Connection, name: str, except_id: str | None = None) -> None:
        clash = conn.execute(sa.select(_g.id).where(_g.account_id == self.scope.account_id,
                                                    _g.region == self.scope.region, _g.name == name,
                                                    _g.id != (except_id or ""))).first()
        if clash:
            raise ApiError("InvalidParameterValue.GroupNameDuplicated", f"A group named {name!r} already exists.")

    def _check_subnets(self, conn: sa.Connection, vpc_id: str, subnet_ids: list[str]) -> None:
        found = {r.id: r for r in fetch(conn, Subnet, sa.select(subnets).where(
            subnets.c.id.in_(subnet_ids), subnets.c.account_id == self.scope.account_id))}
        bad = [s for s in subnet_ids if s not in found or found[s].vpc_id != vpc_id]
        if bad:
            raise ApiError("InvalidParameterValue.SubnetIds", f"The subnets {bad} do not exist in {vpc_id}.")

    def _forward(self, conn: sa.Connection, vpc_id: str, entries: list[ForwardEntry]) -> list[dict[str, Any]]:
        """The group's forward load balancers as stored, once each load balancer, listener and rule exists."""
        result = []
        for entry in entries:
            lb = next(iter(fetch(conn, LoadBalancer, sa.select(load_balancers).where(
                load_balancers.c.id == entry.lb_id, load_balancers.c.account_id == self.scope.account_id))), None)
            if lb is None:
                raise ApiError("ResourceNotFound.LoadBalancerNotFound", f"The load balancer {entry.lb_id} does not exist.")
            if lb.vpc_id != vpc_id:
                raise ApiError("ResourceUnavailable.LbVpcInconsistent", f"{lb.id} is in {lb.vpc_id}, the group in {vpc_id}.")
            listener = next(iter(fetch(conn, Listener, sa.select(listeners).where(
                listeners.c.id == entry.listener_id, listeners.c.lb_id == lb.id))), None)
            if listener is None:
                raise ApiError("ResourceNotFound.ListenerNotFound", f"The listener {entry.listener_id} does not exist.")
            if listener.protocol == "HTTP":
                if not entry.location_id:
                    raise errors.missing("LocationId", "MissingParameter.InScenario")
                rule = fetch(conn, LbRule, sa.select(lb_rules).where(lb_rules.c.id == entry.location_id,
                                                                      lb_rules.c.listener_id == listener.id))
                if not rule:
                    raise ApiError("ResourceNotFound.LocationNotFound", f"The rule {entry.location_id} does not exist.")
            result.append({"LoadBalancerId": lb.id, "ListenerId": listener.id, "LocationId": entry.location_id or "",
                           "TargetAttributes": [{"Port": port, "Weight": weight} for port, weight in entry.targets]})
        return result

    def create_group(self, *, name: str, lc_id: str, vpc_id: str, min_size: int, max_size: int, desired: int,
                     settings_of: SettingsChange, forward: list[ForwardEntry], tags: list[dict[str, str]]) -> str:
        """A new group; its settings are built (and checked) once its launch configuration and VPC exist."""
        with self.cloud.store.write() as conn:
            self._name_free(conn, name)
            config = LAUNCH_CONFIGS.one(conn, self.scope, lc_id)
            VPCS.one(conn, self.scope, vpc_id)
            settings = settings_of(vpc_id, {})
            self._check_subnets(conn, vpc_id, settings["SubnetIds"])
            settings["ForwardLoadBalancers"] = self._forward(conn, vpc_id, forward)
            settings["Tags"] = tags
            count = conn.execute(sa.select(sa.func.count()).select_from(scaling_groups).where(
                _g.account_id == self.scope.account_id)).scalar_one()
            if count >= GROUP_QUOTA:
                raise ApiError("LimitExceeded.AutoScalingGroupLimitExceeded", f"At most {GROUP_QUOTA} groups.")
            group_id = idmod.new_id("asg")
            conn.execute(scaling_groups.insert().values(
                id=group_id, account_id=self.scope.account_id, region=self.scope.region, name=name,
                launch_configuration_id=config.id, min_size=min_size, max_size=max_size, desired=desired,
                settings=settings, enabled=True, created_time=now()))
        self._wake()
        return group_id

    def describe_groups(self, ids: list[str], filters: dict[str, list[str]], offset: int,
                        limit: int) -> tuple[int, list[GroupListing]]:
        where = [_g.account_id == self.scope.account_id, _g.region == self.scope.region]
        if ids:
            where.append(_g.id.in_(ids))
        where += listing.filter_clauses(filters, GROUP_FILTERS, GROUP_SPECIAL)
        with self.cloud.store.read() as conn:
            total, rows = listing.page(conn, scaling_groups, ScalingGroup, where, [_g.seq], offset, limit)
            lc_names = self._lc_names(conn)
            found = []
            for row in rows:
                members = fetch(conn, GroupInstance, sa.select(group_instances).where(_gi.group_id == row.id))
                active = conn.execute(sa.select(_act.id).where(_act.group_id == row.id,
                                                               _act.status_code == "RUNNING")).first()
                found.append(GroupListing(row, lc_names.get(row.launch_configuration_id, ""), members,
                                          active is not None))
        return total, found

    def modify_group(self, group_id: str, change: GroupChange) -> None:
        with self.cloud.store.write() as conn:
            row = GROUPS.one(conn, self.scope, group_id)
            values: dict[str, Any] = {}
            if change.name is not None:
                self._name_free(conn, change.name, row.id)
                values["name"] = change.name
            if change.lc_id is not None:
                values["launch_configuration_id"] = LAUNCH_CONFIGS.one(conn, self.scope, change.lc_id).id
            min_size = row.min_size if change.min_size is None else change.min_size
            max_size = row.max_size if change.max_size is None else change.max_size
            desired = row.desired if change.desired is None else change.desired
            sync = row.settings.get("ServiceSettings", {}).get("DesiredCapacitySyncWithMaxMinSize")
            if change.desired is None and sync:
                desired = min(max(desired, min_size), max_size)
            sizes(min_size, max_size, desired)
            values.update(min_size=min_size, max_size=max_size, desired=desired)
            vpc_id = row.settings["VpcId"]
            if change.vpc_id is not None and change.vpc_id != vpc_id:
                if row.settings.get("ForwardLoadBalancers"):
                    raise ApiError("ResourceUnavailable.ForbiddenModifyVpc",
                                   "Unbind the load balancers before moving VPCs.")
                vpc_id = VPCS.one(conn, self.scope, change.vpc_id).id
                if not change.subnets_given:
                    raise errors.missing("SubnetIds", "MissingParameter.InScenario")
            settings = change.settings(vpc_id, dict(row.settings))
            if change.subnets_given:
                self._check_subnets(conn, vpc_id, settings["SubnetIds"])
            values["settings"] = settings
            conn.execute(scaling_groups.update().where(_g.id == row.id).values(**values))
        self._wake(row.id)

    def modify_desired_capacity(self, group_id: str, desired: int, min_size: int | None,
                                max_size: int | None) -> None:
        with self.cloud.store.write() as conn:
            row = GROUPS.one(conn, self.scope, group_id)
            if not row.enabled:
                raise ApiError("ResourceUnavailable.AutoScalingGroupDisabled", f"The group {row.id} is disabled.")
            low = row.min_size if min_size is None else min_size
            high = row.max_size if max_size is None else max_size
            sizes(low, high, desired)
            conn.execute(scaling_groups.update().where(_g.id == row.id).values(desired=desired, min_size=low,
                                                                              max_size=high))
        self._wake(row.id)

    def set_enabled(self, group_id: str, enabled: bool) -> None:
        with self.cloud.store.write() as conn:
            row = GROUPS.one(conn, self.scope, group_id)
            conn.execute(scaling_groups.update().where(_g.id == row.id).values(enabled=enabled))
        if enabled:
            self._wake(row.id)

    def delete_group(self, group_id: str) -> None:
        with self.cloud.store.write() as conn:
            row = GROUPS.one(conn, self.scope, group_id)
            members = conn.execute(sa.select(_gi.instance_id).where(_gi.group_id == row.id)).scalars().all()
            if members:
                raise ApiError("ResourceInUse.InstanceInGroup",
                               f"The group still has instances {members}; set DesiredCapacity and MinSize to 0 first.")
            conn.execute(scaling_groups.delete().where(_g.id == row.id))

    def describe_activities(self, ids: list[str], since: datetime | None, until: datetime | None,
                            filters: dict[str, list[str]], offset: int, limit: int) -> tuple[int, list[ScalingActivity]]:
        where = [_act.account_id == self.scope.account_id]
        if ids:
            where.append(_act.id.in_(ids))
        if since is not None:
            where.append(_act.start_time >= since)
        if until is not None:
            where.append(_act.start_time <= until)
        where += listing.filter_clauses(filters, ACTIVITY_FILTERS)
        with self.cloud.store.read() as conn:
            return listing.page(conn, scaling_activities, ScalingActivity, where, [_act.seq.desc()], offset, limit)

    # Members

    @staticmethod
    def _members(conn: sa.Connection, group: ScalingGroup, wanted: list[str]) -> dict[str, GroupInstance]:
        rows = {r.instance_id: r for r in fetch(conn, GroupInstance, sa.select(group_instances).where(
            _gi.group_id == group.id, _gi.instance_id.in_(wanted)))}
        outside = [i for i in wanted if i not in rows]
        if outside:
            raise ApiError("ResourceNotFound.InstancesNotInAutoScalingGroup",
                           f"The instances {outside} are not in {group.id}.")
        return rows

    @staticmethod
    def _busy(rows: dict[str, GroupInstance], allowed: frozenset[str] | set[str]) -> None:
        busy = [f"{i} is {r.life_cycle_state}" for i, r in rows.items() if r.life_cycle_state not in allowed]
        if busy:
            raise ApiError("ResourceUnavailable.InstanceInOperation", "Instances busy: " + "; ".join(busy) + ".")

    @staticmethod
    def _set_desired(conn: sa.Connection, group: ScalingGroup, desired: int) -> None:
        conn.execute(scaling_groups.update().where(_g.id == group.id).values(desired=desired))

    @staticmethod
    def _check_min(conn: sa.Connection, group: ScalingGroup, leaving: list[str]) -> None:
        in_service = conn.execute(sa.select(_gi.instance_id).where(
            _gi.group_id == group.id, _gi.life_cycle_state == sc.IN_SERVICE)).scalars().all()
        if group.enabled and len(set(in_service) - set(leaving)) < group.min_size:
            raise ApiError("ResourceInsufficient.InServiceInstanceBelowMinSize",
                           f"Fewer than MinSize ({group.min_size}) instances would remain in service.")
        if group.desired - len(leaving) < group.min_size:
            raise ApiError("ResourceInsufficient.AutoScalingGroupBelowMinSize",
                           f"DesiredCapacity would drop below MinSize ({group.min_size}).")

    def _activity(self, conn: sa.Connection, group: ScalingGroup, activity_type: str, cause: str, description: str,
                  instance_ids: list[str]) -> str:
        return activities.start(conn, group_id=group.id, account_id=self.scope.account_id,
                                activity_type=activity_type, cause=cause, description=description,
                                instance_ids=instance_ids)

    def attach(self, group_id: str, wanted: list[str]) -> str:
        with self.cloud.store.write() as conn:
            group = GROUPS.one(conn, self.scope, group_id)
            found = INSTANCES.many(conn, self.scope, wanted)
            taken = conn.execute(sa.select(_gi.instance_id).where(_gi.instance_id.in_(wanted))).scalars().all()
            if taken:
                raise ApiError("ResourceUnavailable.InstancesAlreadyInAutoScalingGroup", f"{taken} are already in a group.")
            for i in wanted:
                if found[i].state not in (lc.RUNNING, lc.STOPPED) or found[i].latest_operation_state == lc.OPERATING:
                    raise ApiError("ResourceUnavailable.InstanceCannotAttach",
                                   f"{i} is {found[i].state}; only RUNNING or STOPPED instances can be attached.")
                if found[i].vpc_id != group.settings["VpcId"]:
                    raise ApiError("ResourceUnavailable.CvmVpcInconsistent",
                                   f"{i} is not in the group's VPC {group.settings['VpcId']}.")
            if group.desired + len(wanted) > group.max_size:
                raise ApiError("ResourceInsufficient.AutoScalingGroupAboveMaxSize",
                               f"DesiredCapacity would exceed MaxSize ({group.max_size}).")
            act = self._activity(conn, group, "ATTACH_INSTANCES", f"AttachInstances was called for {', '.join(wanted)}.",
                                 f"Attach {len(wanted)} instance(s) to the group.", wanted)
            version = conn.execute(sa.select(_lc.version).where(_lc.id == group.launch_configuration_id)).scalar() or 1
            for i in wanted:
                conn.execute(group_instances.insert().values(
                    instance_id=i, group_id=group.id, account_id=self.scope.account_id,
                    launch_configuration_id=group.launch_configuration_id, version=version,
                    creation_type="MANUAL_ATTACHING", life_cycle_state=sc.ATTACHING, health_status=sc.HEALTHY,
                    protected=False, activity_id=act, unreachable_count=0, added_time=now()))
            self._set_desired(conn, group, group.desired + len(wanted))
        self._wake()
        return act

    async def leave(self, group_id: str, wanted: list[str], *, destroy_own: bool) -> str:
        """Detach (destroy_own False) or remove (True: the instances the group created are terminated)."""
        with self.cloud.store.write() as conn:
            group = GROUPS.one(conn, self.scope, group_id)
            rows = self._members(conn, group, wanted)
            self._busy(rows, {sc.IN_SERVICE, sc.STOPPED, sc.CREATION_FAILED})
            counted = [i for i in wanted if rows[i].life_cycle_state in sc.COUNTED]
            self._check_min(conn, group, counted)
            verb = "Remove" if destroy_own else "Detach"
            act = self._activity(
                conn, group, "REMOVE_INSTANCES" if destroy_own else "DETACH_INSTANCES",
                f"{verb}Instances was called for {', '.join(wanted)}.",
                f"{verb} {len(wanted)} instance(s): " + ("instances the group created are terminated, attached ones "
                                                         "detached." if destroy_own else
                                                         "they keep running outside the group."), wanted)
            for i in wanted:
                membership.deregister(conn, group.settings, i)
                terminate = destroy_own and rows[i].creation_type == "AUTO_CREATION"
                conn.execute(group_instances.update().where(_gi.instance_id == i).values(
                    life_cycle_state=sc.TERMINATING if terminate else sc.DETACHING, activity_id=act))
            self._set_desired(conn, group, group.desired - len(counted))
        self._wake()
        await self.cloud.clb.sync()
        return act

    async def stop(self, group_id: str, wanted: list[str], mode: StoppedMode) -> str:
        with self.cloud.store.write() as conn:
            group = GROUPS.one(conn, self.scope, group_id)
            rows = self._members(conn, group, wanted)
            self._busy(rows, {sc.IN_SERVICE})
            if group.desired - len(wanted) < group.min_size:
                raise ApiError("ResourceInsufficient.AutoScalingGroupBelowMinSize",
                               f"Stopping {len(wanted)} would take DesiredCapacity below MinSize ({group.min_size}).")
            if mode is StoppedMode.STOP_CHARGING:
                for inst in fetch(conn, Instance, sa.select(instances).where(instances.c.id.in_(wanted))):
                    types = conn.execute(sa.select(disks.c.disk_type).where(disks.c.instance_id == inst.id)).scalars()
                    refused = lc.stop_charging_refusal(inst.id, inst.charge_type, list(types))
                    if refused:
                        raise ApiError("ResourceUnavailable.InstanceNotSupportStopCharging", refused.reason)
            act = self._activity(conn, group, "STOP_INSTANCES",
                                 f"StopAutoScalingInstances was called for {', '.join(wanted)}.",
                                 f"Stop {len(wanted)} instance(s) ({FORCED_STOP_TYPE}, {mode}); DesiredCapacity "
                                 f"{group.desired} -> {group.desired - len(wanted)}; they are not replaced.", wanted)
            for i in wanted:
                membership.deregister(conn, group.settings, i)
                conn.execute(group_instances.update().where(_gi.instance_id == i).values(
                    life_cycle_state=sc.STOPPING, activity_id=act))
            self._set_desired(conn, group, group.desired - len(wanted))
            accepted = ops.accept(conn, account_id=self.scope.account_id, region=self.scope.region,
                                  action="StopInstances", instance_ids=wanted, request_id=self.request_id,
                                  params=lc.StopRequest(FORCED_STOP_TYPE, mode))
        await self.cloud.clb.sync()
        self.cloud.runner.submit(accepted.operation_ids)
        return act

    def start(self, group_id: str, wanted: list[str]) -> str:
        with self.cloud.store.write() as conn:
            group = GROUPS.one(conn, self.scope, group_id)
            rows = self._members(conn, group, wanted)
            self._busy(rows, {sc.STOPPED})
            if group.desired + len(wanted) > group.max_size:
                raise ApiError("ResourceInsufficient.AutoScalingGroupAboveMaxSize",
                               f"Starting {len(wanted)} would take DesiredCapacity above MaxSize ({group.max_size}).")
            act = self._activity(conn, group, "START_INSTANCES",
                                 f"StartAutoScalingInstances was called for {', '.join(wanted)}.",
                                 f"Start {len(wanted)} instance(s); DesiredCapacity {group.desired} -> "
                                 f"{group.desired + len(wanted)}.", wanted)
            for i in wanted:
                conn.execute(group_instances.update().where(_gi.instance_id == i).values(
                    life_cycle_state=sc.STARTING, activity_id=act))
            self._set_desired(conn, group, group.desired + len(wanted))
            accepted = ops.accept(conn, account_id=self.scope.account_id, region=self.scope.region,
                                  action="StartInstances", instance_ids=wanted, request_id=self.request_id)
        self.cloud.runner.submit(accepted.operation_ids)
        self._wake()
        return act

    def protect(self, group_id: str, wanted: list[str], protected: bool) -> None:
        with self.cloud.store.write() as conn:
            group = GROUPS.one(conn, self.scope, group_id)
            self._members(conn, group, wanted)
            conn.execute(group_instances.update().where(_gi.instance_id.in_(wanted)).values(protected=protected))

    def describe_members(self, ids: list[str], filters: dict[str, list[str]], offset: int,
                         limit: int) -> tuple[int, list[MemberListing]]:
        where = [_gi.account_id == self.scope.account_id]
        if ids:
            where.append(_gi.instance_id.in_(ids))
        where += listing.filter_clauses(filters, MEMBER_FILTERS, MEMBER_SPECIAL)
        with self.cloud.store.read() as conn:
            total, rows = listing.page(conn, group_instances, GroupInstance, where, [_gi.added_time, _gi.instance_id],
                                       offset, limit)
            groups = dict(conn.execute(sa.select(_g.id, _g.name).where(_g.id.in_({r.group_id for r in rows}))).all())
            lc_names = self._lc_names(conn)
            insts = {r.id: r for r in fetch(conn, Instance, sa.select(instances).where(
                instances.c.id.in_([r.instance_id for r in rows])))}
        return total, [MemberListing(r, groups[r.group_id], lc_names.get(r.launch_configuration_id, ""),
                                     insts.get(r.instance_id)) for r in rows]
