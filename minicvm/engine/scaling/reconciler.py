"""The Auto Scaling reconciler: keeps every enabled group at its desired capacity, judges members'
health and replaces the ones that must go (domain/scaling.py says which).

Every decision is written to the store in one transaction together with its effects (new instances
and their membership rows, a member marked as leaving, an activity), so a restart picks up exactly
where it stopped and never launches twice for one gap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from minicvm import ids
from minicvm.dataplane.model import Health
from minicvm.domain import lifecycle as lc
from minicvm.domain import scaling as sc
from minicvm.domain.catalog import IMAGES, INSTANCE_TYPES
from minicvm.engine import operations as ops
from minicvm.engine.clb_controller import ClbController
from minicvm.engine.events import Bus
from minicvm.engine.launch import DiskPlan, GuestAddresses, LaunchPlan, insert_instances
from minicvm.engine.runner import Runner
from minicvm.engine.scaling import activities, membership
from minicvm.errors import ApiError
from minicvm.store.db import Store
from minicvm.store.statements import ALL_GROUPS
from minicvm.store.tables import group_instances, instances, launch_configurations, scaling_groups, subnets
from minicvm.timefmt import as_utc, now

log = logging.getLogger(__name__)

MAX_LAUNCH_PER_TICK = 10
PROBE_TIMEOUT = 0.5


def _lb_checked(settings: dict[str, Any]) -> bool:
    """Whether the group's load balancers' health checks count toward its members' health."""
    return bool(settings.get("ForwardLoadBalancers")) and settings.get("HealthCheckType", "CLB") == "CLB"


class _Moved(Exception):
    """The member changed under us (an API call won); this decision is dropped."""


class Reconciler:
    """Looks at every group each `interval` seconds, and at once after an instance or health event or
    a `wake`. Instances it decides to create, start or terminate go to `runner`; targets it adds or
    removes are pushed to the data plane through `clb`."""

    def __init__(self, store: Store, bus: Bus, runner: Runner, clb: ClbController, guests: GuestAddresses,
                 interval: float) -> None:
        self.store = store
        self.runner = runner
        self.clb = clb
        self.guests = guests
        self.interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._creation_failures: dict[str, int] = {}
        self._groups_exist = True  # until the first tick has looked
        bus.listeners.append(self._on_event)

    # -- running ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self, group_id: str | None = None) -> None:
        """Look now. A user's change to a group also restarts launches that had stopped after failures."""
        if group_id is not None:
            self._creation_failures.pop(group_id, None)
        self._groups_exist = True  # perhaps: the next tick knows
        self._wake.set()

    def _on_event(self, event: dict[str, Any]) -> None:
        # Without groups no instance event can matter; creating a group wakes the reconciler itself.
        if self._groups_exist and event.get("type") in ("instance", "health"):
            self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad group must not stop the others from being looked after
                log.exception("auto scaling tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    async def tick(self) -> None:
        with self.store.read() as conn:
            groups = ALL_GROUPS.all(conn)
        self._groups_exist = bool(groups)
        for group in groups:
            await self._reconcile(group)

    # -- one group --------------------------------------------------------------------------------

    async def _reconcile(self, group: Any) -> None:
        with self.store.read() as conn:
            members = list(conn.execute(sa.select(group_instances).where(group_instances.c.group_id == group.id)))
            insts = {r.id: r for r in conn.execute(sa.select(instances).where(
                instances.c.id.in_([m.instance_id for m in members])))}
        lb_changed = False
        for member in members:
            lb_changed |= await self._member(group, member, insts.get(member.instance_id))
        if group.enabled:
            lb_changed |= await self._capacity(group)
        if lb_changed:
            await self.clb.sync()

    def _set(self, conn: sa.Connection, member: Any, **values: Any) -> bool:
        """Compare-and-set on the life-cycle state: an API call may have moved the member meanwhile."""
        result = conn.execute(group_instances.update().where(
            group_instances.c.instance_id == member.instance_id,
            group_instances.c.life_cycle_state == member.life_cycle_state).values(**values))
        return result.rowcount == 1

    async def _member(self, group: Any, member: Any, inst: Any) -> bool:
        settings = group.settings
        state = member.life_cycle_state
        if inst is None:
            return self._gone(group, member)
        if state in (sc.CREATING, sc.ATTACHING, sc.STARTING):
            return self._joining(group, member, inst)
        if state == sc.STOPPING:
            if inst.state == lc.STOPPED:
                with self.store.write() as conn:
                    if self._set(conn, member, life_cycle_state=sc.STOPPED, activity_id=None):
                        activities.instance_done(conn, member.activity_id, inst.id, True)
            elif inst.state == lc.RUNNING and inst.latest_operation_state == lc.FAILED:
                with self.store.write() as conn:
                    if self._set(conn, member, life_cycle_state=sc.IN_SERVICE, activity_id=None):
                        membership.register(conn, settings, inst.id)
                        activities.instance_done(conn, member.activity_id, inst.id, False,
                                                 f"{inst.id} did not shut down: {inst.latest_operation_error}")
                return True
            return False
        if state == sc.IN_SERVICE:
            return await self._judge(group, member, inst)
        if state == sc.TERMINATING:
            self._terminate(inst)
        if state == sc.DETACHING:
            with self.store.write() as conn:
                conn.execute(group_instances.delete().where(group_instances.c.instance_id == inst.id))
                activities.instance_done(conn, member.activity_id, inst.id, True)
        return False

    def _gone(self, group: Any, member: Any) -> bool:
        with self.store.write() as conn:
            conn.execute(group_instances.delete().where(group_instances.c.instance_id == member.instance_id))
            if member.life_cycle_state in sc.LEAVING:
                activities.instance_done(conn, member.activity_id, member.instance_id, True)
            else:
                activities.instance_done(conn, member.activity_id, member.instance_id, False, "the instance is gone")
                act = activities.start(
                    conn, group_id=group.id, account_id=group.account_id,
                    activity_type="TERMINATE_INSTANCES_UNEXPECTEDLY",
                    cause=f"Instance {member.instance_id} was terminated outside Auto Scaling.",
                    description=f"Removed {member.instance_id} from the group; the group launches a replacement "
                                f"if it is below its desired capacity.", instance_ids=[member.instance_id])
                activities.instance_done(conn, act, member.instance_id, True)
        return False

    def _joining(self, group: Any, member: Any, inst: Any) -> bool:
        """A new, attached or restarted member is counted in service only once it is RUNNING, registered
        with the group's load balancers and Alive there (checks switched off count as Alive)."""
        settings = group.settings
        if inst.state == lc.LAUNCH_FAILED or (member.life_cycle_state == sc.STARTING and inst.state == lc.STOPPED
                                              and inst.latest_operation_state == lc.FAILED):
            # A launch that failed is cleaned up (terminated); a start that failed leaves it stopped.
            failed = sc.TERMINATING if member.life_cycle_state == sc.CREATING else sc.STOPPED
            with self.store.write() as conn:
                if self._set(conn, member, life_cycle_state=failed, activity_id=None):
                    activities.instance_done(conn, member.activity_id, inst.id, False,
                                             f"{inst.id}: {inst.latest_operation_error or inst.state}")
            if failed == sc.TERMINATING:
                self._creation_failures[group.id] = self._creation_failures.get(group.id, 0) + 1
                self._terminate(inst)
            return False
        ready = inst.state == lc.RUNNING or (member.life_cycle_state == sc.ATTACHING and inst.state == lc.STOPPED)
        if not ready:
            if inst.state in sc.SHUT_DOWN:
                # Stopped (or isolated) on the way to service: it would wait for a RUNNING that never comes.
                return self._shut_down(group, member, inst)
            return False
        with self.store.write() as conn:
            changed = membership.register(conn, settings, inst.id)
        health = membership.lb_health(self.clb, settings, inst.id)
        if inst.state == lc.RUNNING and not all(h.serving for h in health):
            return changed
        with self.store.write() as conn:
            if self._set(conn, member, life_cycle_state=sc.IN_SERVICE, in_service_time=now(), activity_id=None,
                         health_status=sc.HEALTHY, unreachable_count=0):
                activities.instance_done(conn, member.activity_id, inst.id, True)
        self._creation_failures.pop(group.id, None)
        return changed

    async def _judge(self, group: Any, member: Any, inst: Any) -> bool:
        settings = group.settings
        with_lbs = _lb_checked(settings)
        if inst.state in sc.SHUT_DOWN:
            return self._shut_down(group, member, inst)
        if inst.state != lc.RUNNING:
            return False
        reachable = await self._probe(inst)
        count = 0 if reachable else member.unreachable_count + 1
        unreachable = count >= sc.UNREACHABLE_THRESHOLD
        grace = timedelta(seconds=settings.get("LoadBalancerHealthCheckGracePeriod", 0))
        in_grace = member.in_service_time is not None and now() - as_utc(member.in_service_time) < grace
        clb_bad = with_lbs and not in_grace and Health.DEAD in membership.lb_health(self.clb, settings, inst.id)
        word = sc.health_word(unreachable, clb_bad)
        if (word, count) != (member.health_status, member.unreachable_count):
            with self.store.write() as conn:
                self._set(conn, member, health_status=word, unreachable_count=count)
        service = settings.get("ServiceSettings", {})
        replace = (unreachable and service.get("ReplaceMonitorUnhealthy")) or (
            clb_bad and service.get("ReplaceLoadBalancerUnhealthy"))
        if replace and not member.protected:
            why = "does not answer (ping unreachable)" if unreachable else "fails its load balancer health check"
            return self._replace(group, member, inst, word, f"Instance {inst.id} {why}; Auto Scaling marked it {word}.")
        return False

    def _shut_down(self, group: Any, member: Any, inst: Any) -> bool:
        """A member shut down from the CVM side is unhealthy at once and replaced; a protected one is only
        marked (and, if it was still joining, counted in service as it is, so that its activity ends)."""
        settings = group.settings
        with_lbs = _lb_checked(settings)
        word = sc.health_word(True, with_lbs)
        if member.protected:
            with self.store.write() as conn:
                if member.life_cycle_state == sc.IN_SERVICE:
                    self._set(conn, member, health_status=word)
                elif self._set(conn, member, life_cycle_state=sc.IN_SERVICE, in_service_time=now(), activity_id=None,
                               health_status=word, unreachable_count=0):
                    activities.instance_done(conn, member.activity_id, inst.id, False,
                                             f"{inst.id} was shut down (InstanceState {inst.state}) before it was "
                                             f"in service; it is protected, so it is kept.")
            return False
        by = "StopInstances" if inst.latest_operation == "StopInstances" else "from inside the guest"
        return self._replace(group, member, inst, word,
                             f"Instance {inst.id} was shut down ({by}; InstanceState {inst.state}): "
                             f"Auto Scaling marked it {word}.")

    async def _probe(self, inst: Any) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(inst.guest_host, inst.guest_port), PROBE_TIMEOUT)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    def _replace(self, group: Any, member: Any, inst: Any, word: str, cause: str) -> bool:
        """Out of the group (terminated if the group made it, detached if attached by hand) and, if the
        group is enabled, a new instance launched in the same transaction."""
        leaving = sc.TERMINATING if member.creation_type == "AUTO_CREATION" else sc.DETACHING
        fate = "terminated" if leaving == sc.TERMINATING else "detached and left as it is"
        op_ids: list[str] = []
        try:
            with self.store.write() as conn:
                if not self._set(conn, member, life_cycle_state=leaving, health_status=word):
                    raise _Moved
                # A member replaced before it was in service ends the activity that was bringing it in.
                activities.instance_done(conn, member.activity_id, inst.id, False,
                                         f"{inst.id} left before it was in service ({cause})")
                act = activities.start(conn, group_id=group.id, account_id=group.account_id,
                                       activity_type="REPLACE_UNHEALTHY_INSTANCE", cause=cause,
                                       description=f"Moved {inst.id} out of the group ({fate}) and launched a replacement.",
                                       instance_ids=[inst.id])
                conn.execute(group_instances.update().where(group_instances.c.instance_id == inst.id)
                             .values(activity_id=act))
                membership.deregister(conn, group.settings, inst.id)
                if group.enabled:
                    op_ids = self._launch(conn, group, 1, act)
        except _Moved:
            return False
        self.runner.submit(op_ids)
        if leaving == sc.TERMINATING:
            self._terminate(inst)
        return True

    def _terminate(self, inst: Any) -> None:
        if lc.refusal(lc.Action.TERMINATE, inst.id, inst.state, inst.latest_operation_state) is not None:
            return  # wait until the table lets it go (a STOPPING one first finishes shutting down)
        try:
            with self.store.write() as conn:
                accepted = ops.accept(conn, account_id=inst.account_id, region=inst.region, action="TerminateInstances",
                                      instance_ids=[inst.id], request_id=ids.new_request_id(),
                                      params=lc.TerminateRequest(release_address=True, recycle_prepaid=False))
        except ApiError as exc:
            log.info("terminating %s waits: %s", inst.id, exc.message)
            return
        self.runner.submit(accepted.operation_ids)

    # -- capacity -----------------------------------------------------------------------------------

    async def _capacity(self, group: Any) -> bool:
        """Close the gap between desired and counted members. Decided and written in one write
        transaction on fresh rows, so an API call changing the group meanwhile cannot make it act on
        a stale desired capacity."""
        op_ids: list[str] = []
        lb_changed = False
        with self.store.write() as conn:
            group = conn.execute(sa.select(scaling_groups).where(scaling_groups.c.id == group.id)).first()
            if group is None or not group.enabled:
                return False
            members = list(conn.execute(sa.select(group_instances).where(group_instances.c.group_id == group.id)))
            counted = [m for m in members if m.life_cycle_state in sc.COUNTED]
            gap = group.desired - len(counted)
            if gap > 0 and self._creation_failures.get(group.id, 0) < 5:
                # IMMEDIATE_RETRY stops after five launches in a row failed; a user's change restarts it.
                op_ids = self._scale_out(conn, group, members, gap)
            elif gap < 0:
                lb_changed = self._scale_in(conn, group, counted, -gap)
        self.runner.submit(op_ids)
        return lb_changed

    def _scale_out(self, conn: sa.Connection, group: Any, members: list[Any], gap: int) -> list[str]:
        service = group.settings.get("ServiceSettings", {})
        op_ids: list[str] = []
        if service.get("ScalingMode") == "WAKE_UP_STOPPED_SCALING":
            sleeping = [m for m in members if m.life_cycle_state == sc.STOPPED][:gap]
            if sleeping:
                act = activities.start(
                    conn, group_id=group.id, account_id=group.account_id, activity_type="START_INSTANCES",
                    cause="Scale out by waking stopped instances (ScalingMode WAKE_UP_STOPPED_SCALING).",
                    description=f"Start {len(sleeping)} stopped instance(s).",
                    instance_ids=[m.instance_id for m in sleeping])
                for m in sleeping:
                    self._set(conn, m, life_cycle_state=sc.STARTING, activity_id=act)
                accepted = ops.accept(conn, account_id=group.account_id, region=group.region,
                                      action="StartInstances", instance_ids=[m.instance_id for m in sleeping],
                                      request_id=ids.new_request_id())
                op_ids += accepted.operation_ids
                gap -= len(sleeping)
        count = min(gap, MAX_LAUNCH_PER_TICK)
        if count > 0:
            act = activities.start(
                conn, group_id=group.id, account_id=group.account_id, activity_type="SCALE_OUT",
                cause="Activity was launched in response to a difference between desired capacity and actual "
                      f"capacity, scale out {count} instance(s).",
                description=f"Launch {count} instance(s) to reach the desired capacity {group.desired}.",
                instance_ids=[])
            op_ids += self._launch(conn, group, count, act)
        return op_ids

    def _scale_in(self, conn: sa.Connection, group: Any, counted: list[Any], surplus: int) -> bool:
        service = group.settings.get("ServiceSettings", {})
        policy = (group.settings.get("TerminationPolicies") or ["OLDEST_INSTANCE"])[0]
        candidates = [sc.Candidate(m.instance_id, as_utc(m.added_time), m.health_status == sc.HEALTHY, m.protected)
                      for m in counted]
        victims = sc.scale_in_victims(candidates, surplus, policy, bool(service.get("PriorityScaleInUnhealthy")))
        if not victims:
            return False
        by_id = {m.instance_id: m for m in counted}
        act = activities.start(
            conn, group_id=group.id, account_id=group.account_id, activity_type="SCALE_IN",
            cause="Activity was launched in response to a difference between desired capacity and actual "
                  f"capacity, scale in {len(victims)} instance(s).",
            description=f"Remove {len(victims)} instance(s) ({policy}) to reach the desired capacity {group.desired}.",
            instance_ids=victims)
        for instance_id in victims:
            member = by_id[instance_id]
            leaving = sc.TERMINATING if member.creation_type == "AUTO_CREATION" else sc.DETACHING
            self._set(conn, member, life_cycle_state=leaving, activity_id=act)
            membership.deregister(conn, group.settings, instance_id)
        return True

    def _launch(self, conn: sa.Connection, group: Any, count: int, activity_id: str) -> list[str]:
        """Create `count` instances from the group's launch configuration, as members being created."""
        config = conn.execute(sa.select(launch_configurations).where(
            launch_configurations.c.id == group.launch_configuration_id)).one()
        spec = config.spec
        settings = group.settings
        subnet = self._pick_subnet(conn, group)
        itype = INSTANCE_TYPES[spec["InstanceTypes"][0]]
        net = spec["InternetAccessible"]
        plan = LaunchPlan(
            zone=subnet.zone, names=[spec.get("InstanceName") or f"as-{group.name}"] * count,
            image=IMAGES[spec["ImageId"]], itype=itype, charge="POSTPAID_BY_HOUR", renew_flag=None,
            security_group_ids=list(spec["SecurityGroupIds"]),
            tags=list(spec["InstanceTags"]) + [{"Key": t["Key"], "Value": t["Value"]} for t in settings.get("Tags", [])],
            disks=[DiskPlan("SYSTEM_DISK", spec["SystemDisk"]["DiskType"], spec["SystemDisk"]["DiskSize"], True, "")]
            + [DiskPlan("DATA_DISK", d["DiskType"], d["DiskSize"], d["DeleteWithInstance"], "") for d in spec["DataDisks"]],
            internet_charge=net["InternetChargeType"], bandwidth=net["InternetMaxBandwidthOut"],
            wants_public_ip=bool(net["PublicIpAssigned"]), user_data=spec.get("UserData"), host_name=None,
            password_hash=spec["LoginSettings"].get("PasswordHash"), key_ids=list(spec["LoginSettings"]["KeyIds"]),
            vpc_id=subnet.vpc_id, subnet_id=subnet.id)
        created, op_ids = insert_instances(conn, self.guests, group.account_id, group.region, plan, ids.new_request_id())
        ts = now()
        for instance_id in created:
            conn.execute(group_instances.insert().values(
                instance_id=instance_id, group_id=group.id, account_id=group.account_id,
                launch_configuration_id=config.id, version=config.version, creation_type="AUTO_CREATION",
                life_cycle_state=sc.CREATING, health_status=sc.HEALTHY, protected=False, activity_id=activity_id,
                unreachable_count=0, added_time=ts))
        activities.add_instances(conn, activity_id, created)
        return op_ids

    def _pick_subnet(self, conn: sa.Connection, group: Any) -> Any:
        """PRIORITY: the first subnet; EQUALITY: the subnet holding the fewest members."""
        subnet_ids = group.settings["SubnetIds"]
        rows = {r.id: r for r in conn.execute(sa.select(subnets).where(subnets.c.id.in_(subnet_ids)))}
        ordered = [rows[s] for s in subnet_ids if s in rows]
        if group.settings.get("MultiZoneSubnetPolicy") != "EQUALITY" or len(ordered) == 1:
            return ordered[0]
        used: dict[str, int] = dict(conn.execute(sa.select(instances.c.subnet_id, sa.func.count()).where(instances.c.id.in_(
            sa.select(group_instances.c.instance_id).where(group_instances.c.group_id == group.id)))
            .group_by(instances.c.subnet_id)).all())
        return min(ordered, key=lambda s: used.get(s.id, 0))
