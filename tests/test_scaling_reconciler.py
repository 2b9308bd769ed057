"""The Auto Scaling reconciler's decisions, one tick at a time, on a real store and the sim driver (no HTTP
server): scale out to the desired capacity, scale in by the termination policy, replace a member that
was shut down or stops answering, forget one terminated behind the group's back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from minicvm import ids
from minicvm.dataplane.model import Health
from minicvm.domain import lifecycle as lc
from minicvm.domain import scaling as sc
from minicvm.domain.states import StoppedMode, StopType
from minicvm.drivers.base import StopMode
from minicvm.engine import operations as ops
from minicvm.store.tables import group_instances, instances, scaling_activities
from tests.support.engine import ACCOUNT, REGION, Engine, run


def activities(engine: Engine, group_id: str) -> list[str]:
    rows = engine.rows(scaling_activities, scaling_activities.c.group_id == group_id)
    return [r.activity_type for r in sorted(rows, key=lambda r: r.seq)]


async def in_service(engine: Engine, group_id: str, desired: int) -> list[str]:
    """Tick until the group holds `desired` members in service; their instance ids, oldest first."""
    await engine.scaler.tick()
    await engine.settle()
    await engine.scaler.tick()
    members = engine.members(group_id)
    assert [m.life_cycle_state for m in members.values()] == [sc.IN_SERVICE] * desired
    return [m.instance_id for m in sorted(members.values(), key=lambda m: (m.added_time, m.instance_id))]


def test_scale_out_launches_the_gap_once_and_counts_members_in_service_when_running(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        group = engine.group(desired=2)
        await engine.scaler.tick()
        members = engine.members(group)
        assert [m.life_cycle_state for m in members.values()] == [sc.CREATING, sc.CREATING]
        assert {engine.instance(i).state for i in members} == {lc.PENDING}
        # A second look before the launches finish must not launch again for the same gap.
        await engine.scaler.tick()
        assert engine.members(group).keys() == members.keys()
        await engine.settle()
        assert {engine.instance(i).state for i in members} == {lc.RUNNING}
        await engine.scaler.tick()
        assert {m.life_cycle_state for m in engine.members(group).values()} == {sc.IN_SERVICE}
        assert activities(engine, group) == ["SCALE_OUT"]

    run(tmp_path, body, backend)


def test_a_disabled_group_does_not_launch(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        group = engine.group(desired=2, enabled=False)
        await engine.scaler.tick()
        assert engine.members(group) == {}
        assert activities(engine, group) == []

    run(tmp_path, body, backend)


def test_scale_in_takes_the_oldest_member_out_and_terminates_it(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        group = engine.group(desired=1)
        oldest = (await in_service(engine, group, 1))[0]
        engine.set_desired(group, 2)
        newest = [i for i in await in_service(engine, group, 2) if i != oldest][0]
        engine.set_desired(group, 1)
        await engine.scaler.tick()
        assert {i: m.life_cycle_state for i, m in engine.members(group).items()} == {
            oldest: sc.TERMINATING, newest: sc.IN_SERVICE}
        await engine.scaler.tick()  # the leaving member's instance is terminated
        await engine.settle()
        assert engine.rows(instances, instances.c.id == oldest) == []
        await engine.scaler.tick()  # and the member row goes with it
        assert list(engine.members(group)) == [newest]
        assert activities(engine, group) == ["SCALE_OUT", "SCALE_OUT", "SCALE_IN"]

    run(tmp_path, body, backend)


def test_scale_in_spares_protected_members(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        group = engine.group(desired=2)
        first, second = await in_service(engine, group, 2)
        with engine.store.write() as conn:
            conn.execute(group_instances.update().where(group_instances.c.instance_id == first).values(protected=True))
        engine.set_desired(group, 1)
        await engine.scaler.tick()
        states = {i: m.life_cycle_state for i, m in engine.members(group).items()}
        assert states == {first: sc.IN_SERVICE, second: sc.TERMINATING}

    run(tmp_path, body, backend)


def test_a_member_shut_down_from_inside_is_replaced(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        engine.driver.subscribe(engine.runner.on_guest_event)  # as cloud.py wires it
        group = engine.group(desired=1)
        (member,) = await in_service(engine, group, 1)
        await engine.driver.stop(member, StopMode.HARD, 0)  # the guest OS powered off by itself
        assert engine.instance(member).state == lc.STOPPED
        await engine.scaler.tick()
        members = engine.members(group)
        assert members[member].life_cycle_state == sc.TERMINATING
        assert members[member].health_status == sc.UNHEALTHY
        (replacement,) = [i for i in members if i != member]
        assert members[replacement].life_cycle_state == sc.CREATING
        assert activities(engine, group) == ["SCALE_OUT", "REPLACE_UNHEALTHY_INSTANCE"]
        await engine.settle()
        await engine.scaler.tick()
        assert engine.rows(instances, instances.c.id == member) == []
        assert {i: m.life_cycle_state for i, m in engine.members(group).items()} == {replacement: sc.IN_SERVICE}

    run(tmp_path, body, backend)


def test_a_protected_member_shut_down_is_marked_but_kept(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        engine.driver.subscribe(engine.runner.on_guest_event)
        group = engine.group(desired=1)
        (member,) = await in_service(engine, group, 1)
        with engine.store.write() as conn:
            conn.execute(group_instances.update().where(group_instances.c.instance_id == member).values(protected=True))
        await engine.driver.stop(member, StopMode.HARD, 0)
        await engine.scaler.tick()
        (row,) = engine.members(group).values()
        assert (row.life_cycle_state, row.health_status) == (sc.IN_SERVICE, sc.UNHEALTHY)
        assert activities(engine, group) == ["SCALE_OUT"]

    run(tmp_path, body, backend)


def test_an_unreachable_member_is_replaced_only_when_asked_and_after_the_threshold(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        # The driver is not wired to the runner here: the store keeps saying RUNNING while the guest does
        # not answer, which is what a hung guest looks like.
        group = engine.group(desired=1, service={"ReplaceMonitorUnhealthy": True})
        (member,) = await in_service(engine, group, 1)
        await engine.driver.stop(member, StopMode.HARD, 0)
        for _ in range(sc.UNREACHABLE_THRESHOLD - 1):
            await engine.scaler.tick()
            row = engine.members(group)[member]
            assert (row.life_cycle_state, row.health_status) == (sc.IN_SERVICE, sc.HEALTHY)
        await engine.scaler.tick()
        members = engine.members(group)
        assert members[member].life_cycle_state == sc.TERMINATING
        assert len(members) == 2
        assert activities(engine, group) == ["SCALE_OUT", "REPLACE_UNHEALTHY_INSTANCE"]

    run(tmp_path, body, backend)


def test_an_unreachable_member_is_only_marked_without_replace_monitor_unhealthy(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        group = engine.group(desired=1)
        (member,) = await in_service(engine, group, 1)
        await engine.driver.stop(member, StopMode.HARD, 0)
        for _ in range(sc.UNREACHABLE_THRESHOLD + 1):
            await engine.scaler.tick()
        (row,) = engine.members(group).values()
        assert (row.life_cycle_state, row.health_status) == (sc.IN_SERVICE, sc.UNHEALTHY)

    run(tmp_path, body, backend)


def test_a_member_terminated_behind_the_groups_back_is_forgotten_and_the_gap_refilled(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        group = engine.group(desired=1)
        (member,) = await in_service(engine, group, 1)
        with engine.store.write() as conn:  # gone without the group's knowing
            conn.execute(instances.delete().where(instances.c.id == member))
        await engine.scaler.tick()
        members = engine.members(group)
        assert member not in members
        assert [m.life_cycle_state for m in members.values()] == [sc.CREATING]
        assert activities(engine, group) == ["SCALE_OUT", "TERMINATE_INSTANCES_UNEXPECTEDLY", "SCALE_OUT"]
        assert engine.rows(group_instances, group_instances.c.instance_id == member) == []

    run(tmp_path, body, backend)


def test_wake_up_stopped_scaling_starts_stopped_members_before_launching(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        group = engine.group(desired=1, service={"ScalingMode": "WAKE_UP_STOPPED_SCALING"})
        (member,) = await in_service(engine, group, 1)
        await engine.driver.stop(member, StopMode.HARD, 0)
        with engine.store.write() as conn:  # as StopAutoScalingInstances leaves it
            conn.execute(instances.update().where(instances.c.id == member).values(state=lc.STOPPED))
            conn.execute(group_instances.update().where(group_instances.c.instance_id == member)
                         .values(life_cycle_state=sc.STOPPED))
        await engine.scaler.tick()
        assert {i: m.life_cycle_state for i, m in engine.members(group).items()} == {member: sc.STARTING}
        await engine.settle()
        assert engine.instance(member).state == lc.RUNNING
        await engine.scaler.tick()
        assert {i: m.life_cycle_state for i, m in engine.members(group).items()} == {member: sc.IN_SERVICE}
        assert activities(engine, group) == ["SCALE_OUT", "START_INSTANCES"]

    run(tmp_path, body, backend)


# Tencent's fastest checks, run 20 times faster by the engine's CLB time scale.
FAST_CHECK = {"HealthSwitch": 1, "CheckType": "TCP", "IntervalTime": 2, "TimeOut": 2, "HealthNum": 2, "UnHealthNum": 2}


async def ticks_until(engine: Engine, done: Callable[[], bool], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "the reconciler did not get there"
        await engine.scaler.tick()
        await engine.settle()
        await asyncio.sleep(0.05)


def test_a_member_behind_a_load_balancer_is_in_service_only_once_alive_there(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        lb_id, listener_id = engine.tcp_listener(FAST_CHECK)
        port = engine.guests.port
        group = engine.group(desired=1, forward=[{"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                  "TargetAttributes": [{"Port": port, "Weight": 10}]}])
        await engine.clb.sync()
        await engine.scaler.tick()
        await engine.settle()
        (member,) = engine.members(group)
        await engine.scaler.tick()  # RUNNING and registered, but the data plane has not checked it yet
        assert engine.members(group)[member].life_cycle_state == sc.CREATING
        assert engine.clb.target_health(listener_id, "", member, port) is Health.UNKNOWN
        await ticks_until(engine, lambda: engine.members(group)[member].life_cycle_state == sc.IN_SERVICE)
        assert engine.clb.target_health(listener_id, "", member, port) is Health.ALIVE

    run(tmp_path, body, backend)


def test_a_member_dead_on_its_load_balancer_is_replaced_when_asked(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        lb_id, listener_id = engine.tcp_listener(FAST_CHECK)
        port = engine.guests.port
        group = engine.group(desired=1, service={"ReplaceLoadBalancerUnhealthy": True},
                             forward=[{"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                       "TargetAttributes": [{"Port": port, "Weight": 10}]}])
        await engine.clb.sync()
        await ticks_until(engine, lambda: [m.life_cycle_state for m in engine.members(group).values()]
                          == [sc.IN_SERVICE])
        (member,) = engine.members(group)
        await engine.driver.stop(member, StopMode.HARD, 0)  # hung: the store still says RUNNING
        await ticks_until(engine, lambda: engine.members(group)[member].life_cycle_state == sc.TERMINATING)
        assert engine.members(group)[member].health_status in (sc.CLB_UNHEALTHY, sc.BOTH)
        assert activities(engine, group)[-1] == "REPLACE_UNHEALTHY_INSTANCE"
        # Out of the load balancer as it leaves: the data plane no longer knows the target.
        assert engine.clb.target_health(listener_id, "", member, port) is Health.UNKNOWN

    run(tmp_path, body, backend)


def _stop_by_api(engine: Engine, instance_id: str) -> None:
    """StopInstances as the API accepts it: the operation row and STOPPING in one transaction."""
    with engine.store.write() as conn:
        accepted = ops.accept(conn, account_id=ACCOUNT, region=REGION, action="StopInstances",
                              instance_ids=[instance_id], request_id=ids.new_request_id(),
                              params=lc.StopRequest(StopType.HARD, StoppedMode.KEEP_CHARGING))
    engine.runner.submit(accepted.operation_ids)


def test_a_member_stopped_before_it_is_in_service_is_replaced(tmp_path: Path, backend: str) -> None:
    """A new member waits for its load balancer's health check; stopped meanwhile, it can never get there:
    the group must notice, fail the launch in its activity, and launch a replacement."""
    async def body(engine: Engine) -> None:
        lb_id, listener_id = engine.tcp_listener(FAST_CHECK)
        group = engine.group(desired=1, forward=[{"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                  "TargetAttributes": [{"Port": engine.guests.port, "Weight": 10}]}])
        await engine.clb.sync()
        await engine.scaler.tick()
        await engine.settle()
        (member,) = engine.members(group)
        await engine.scaler.tick()  # RUNNING, registered, not yet Alive: still joining
        assert engine.members(group)[member].life_cycle_state == sc.CREATING
        _stop_by_api(engine, member)
        await engine.settle()
        assert engine.instance(member).state == lc.STOPPED
        await engine.scaler.tick()
        members = engine.members(group)
        assert members[member].life_cycle_state == sc.TERMINATING
        (replacement,) = [i for i in members if i != member]
        rows = sorted(engine.rows(scaling_activities, scaling_activities.c.group_id == group), key=lambda r: r.seq)
        assert [(r.activity_type, r.status_code) for r in rows] == [
            ("SCALE_OUT", "FAILED"), ("REPLACE_UNHEALTHY_INSTANCE", "RUNNING")]
        await ticks_until(engine, lambda: {i: m.life_cycle_state for i, m in engine.members(group).items()}
                          == {replacement: sc.IN_SERVICE})
        assert engine.rows(instances, instances.c.id == member) == []

    run(tmp_path, body, backend)


def test_a_woken_member_stopped_before_it_is_in_service_is_replaced(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        lb_id, listener_id = engine.tcp_listener(FAST_CHECK)
        group = engine.group(desired=1, service={"ScalingMode": "WAKE_UP_STOPPED_SCALING"},
                             forward=[{"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                       "TargetAttributes": [{"Port": engine.guests.port, "Weight": 10}]}])
        await engine.clb.sync()
        await ticks_until(engine, lambda: [m.life_cycle_state for m in engine.members(group).values()]
                          == [sc.IN_SERVICE])
        (member,) = engine.members(group)
        _stop_by_api(engine, member)
        await engine.settle()
        with engine.store.write() as conn:  # as StopAutoScalingInstances leaves it
            conn.execute(group_instances.update().where(group_instances.c.instance_id == member)
                         .values(life_cycle_state=sc.STOPPED))
        await engine.scaler.tick()  # woken: STARTING
        await engine.settle()
        assert engine.members(group)[member].life_cycle_state == sc.STARTING
        _stop_by_api(engine, member)
        await engine.settle()
        await engine.scaler.tick()
        members = engine.members(group)
        assert members[member].life_cycle_state == sc.TERMINATING
        assert len(members) == 2
        await ticks_until(engine, lambda: [m.life_cycle_state for i, m in engine.members(group).items()
                                           if i != member] == [sc.IN_SERVICE])

    run(tmp_path, body, backend)


def test_a_protected_member_stopped_before_it_is_in_service_is_kept_and_its_launch_ends(tmp_path: Path,
                                                                                      backend: str) -> None:
    async def body(engine: Engine) -> None:
        lb_id, listener_id = engine.tcp_listener(FAST_CHECK)
        group = engine.group(desired=1, forward=[{"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                  "TargetAttributes": [{"Port": engine.guests.port, "Weight": 10}]}])
        await engine.clb.sync()
        await engine.scaler.tick()
        await engine.settle()
        (member,) = engine.members(group)
        with engine.store.write() as conn:
            conn.execute(group_instances.update().where(group_instances.c.instance_id == member).values(protected=True))
        _stop_by_api(engine, member)
        await engine.settle()
        await engine.scaler.tick()
        (row,) = engine.members(group).values()
        assert (row.life_cycle_state, row.health_status) == (sc.IN_SERVICE, sc.BOTH)
        (activity,) = engine.rows(scaling_activities, scaling_activities.c.group_id == group)
        assert (activity.activity_type, activity.status_code) == ("SCALE_OUT", "FAILED")
        assert "protected" in activity.status_message

    run(tmp_path, body, backend)
