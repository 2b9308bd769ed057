"""The runner's start-up recovery on a real store and the sim driver (no HTTP server): operations left in
flight by a crash are carried out, and RUNNING instances whose guest is off are brought back in line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from minicvm import ids
from minicvm.domain import lifecycle as lc
from minicvm.domain.states import StopType
from minicvm.drivers.base import Capabilities, PowerState, StopMode
from minicvm.drivers.sim.driver import SimDriver
from minicvm.engine import operations as ops
from minicvm.store.tables import events
from tests.support.engine import ACCOUNT, REGION, Engine, run


def accept(engine: Engine, action: str, instance_ids: list[str], params: lc.Params = None) -> list[str]:
    """An action accepted by the API (operation rows and transitional state written) but not yet run."""
    with engine.store.write() as conn:
        accepted = ops.accept(conn, account_id=ACCOUNT, region=REGION, action=action, instance_ids=instance_ids,
                              request_id=ids.new_request_id(), params=params)
    return accepted.operation_ids


async def running(engine: Engine, count: int = 1) -> list[str]:
    created = engine.launch(count)
    engine.submit_pending()
    await engine.settle()
    assert {engine.instance(i).state for i in created} == {lc.RUNNING}
    return created


def test_launches_left_in_flight_are_carried_out(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        created = engine.launch(2)  # the server died before the runner got to them
        assert {engine.instance(i).state for i in created} == {lc.PENDING}
        after = engine.restarted()
        await after.runner.recover()
        await after.settle()
        for instance_id in created:
            assert engine.instance(instance_id).state == lc.RUNNING
            assert engine.instance(instance_id).latest_operation_state == lc.SUCCESS
            assert [op.state for op in engine.operations_of(instance_id)] == [lc.SUCCESS]
            assert await after.driver.power_state(instance_id) is PowerState.RUNNING
        await after.close()

    run(tmp_path, body, backend)


def test_a_stop_left_in_flight_is_finished_on_the_running_guest(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        (instance_id,) = await running(engine)
        accept(engine, "StopInstances", [instance_id], lc.StopRequest(StopType.SOFT))
        assert engine.instance(instance_id).state == lc.STOPPING
        # A runner that starts over with the guest still up (as qemu's guests outlive the server).
        after = engine.restarted(driver=engine.driver)
        await after.runner.recover()
        await after.settle()
        inst = engine.instance(instance_id)
        assert (inst.state, inst.latest_operation, inst.latest_operation_state) == (
            lc.STOPPED, "StopInstances", lc.SUCCESS)
        assert await engine.driver.power_state(instance_id) is PowerState.OFF
        await after.runner.cancel_all()
        await after.clb.close()

    run(tmp_path, body, backend)


def test_running_instances_whose_sim_guest_is_gone_are_booted_again(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        first, second = await running(engine, 2)
        await engine.driver.close()  # the server's process ended: sim guests end with it
        after = engine.restarted(driver=SimDriver(tmp_path, boot_seconds=0, shutdown_seconds=0))
        assert await after.driver.power_state(first) is PowerState.OFF
        await after.runner.recover()
        for instance_id in (first, second):
            for _ in range(100):
                if await after.driver.power_state(instance_id) is PowerState.RUNNING:
                    break
                await asyncio.sleep(0.02)
            assert await after.driver.power_state(instance_id) is PowerState.RUNNING
            assert engine.instance(instance_id).state == lc.RUNNING
        # A host reboot of ours is no news for the instance's log.
        with engine.store.read() as conn:
            assert conn.execute(sa.select(events).where(events.c.kind == "GuestPoweredOff")).all() == []
        await after.close()

    run(tmp_path, body, backend)


def test_a_busy_instance_is_left_to_its_operation(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        (instance_id,) = await running(engine)
        accept(engine, "RebootInstances", [instance_id], lc.RebootRequest(StopType.HARD))
        await engine.driver.close()
        after = engine.restarted(driver=SimDriver(tmp_path, boot_seconds=0, shutdown_seconds=0))
        await after.runner.recover()
        await after.settle()
        inst = engine.instance(instance_id)
        assert (inst.state, inst.latest_operation_state) == (lc.RUNNING, lc.SUCCESS)
        assert await after.driver.power_state(instance_id) is PowerState.RUNNING
        await after.close()

    run(tmp_path, body, backend)


class OutlivingSimDriver(SimDriver):
    """The sim driver handed on from one runner to the next: its guests really do outlive the "server",
    as qemu's processes do, so it declares so."""

    capabilities = Capabilities(guests_survive_restart=True, hotplug_disks=True)


def test_a_surviving_guest_found_off_is_recorded_as_stopped_unless_we_shut_it_down(tmp_path: Path, backend: str) -> None:
    async def body(engine: Engine) -> None:
        await engine.driver.close()
        engine = engine.restarted(driver=OutlivingSimDriver(tmp_path, boot_seconds=0, shutdown_seconds=0))
        died, alive = await running(engine, 2)

        # The server was killed; meanwhile one guest powered off by itself.
        await engine.driver.stop(died, StopMode.HARD, 0)
        after = engine.restarted(driver=engine.driver)
        await after.runner.recover()
        assert {i: engine.instance(i).state for i in (died, alive)} == {died: lc.STOPPED, alive: lc.RUNNING}
        assert await after.driver.power_state(died) is PowerState.OFF
        assert await after.driver.power_state(alive) is PowerState.RUNNING  # left alone

        # An orderly stop powers the guests off after noting which ran: the next start boots them again.
        after.runner.write_host_shutdown_marker()
        await after.driver.stop(alive, StopMode.HARD, 0)
        again = after.restarted(driver=after.driver)
        await again.runner.recover()
        for _ in range(100):
            if await again.driver.power_state(alive) is PowerState.RUNNING:
                break
            await asyncio.sleep(0.02)
        assert await again.driver.power_state(alive) is PowerState.RUNNING
        assert engine.instance(alive).state == lc.RUNNING
        with engine.store.read() as conn:
            logged = conn.execute(sa.select(events.c.resource_id).where(events.c.kind == "GuestPoweredOff")).all()
        assert [r.resource_id for r in logged] == [died]
        await again.close()

    run(tmp_path, body, backend)
