"""How the runner consumes the driver's one event channel: a guest that goes off with no operation of
minicvm's is recorded once (STOPPED, a log entry saying why), however many paths report it; a power-off
minicvm asked for is not recorded as one. Real store, sim driver, no HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from minicvm import ids
from minicvm.domain import lifecycle as lc
from minicvm.domain.states import StopType
from minicvm.engine import operations as ops
from minicvm.store.tables import events
from tests.support.engine import ACCOUNT, REGION, Engine, run


async def running(engine: Engine) -> str:
    engine.driver.subscribe(engine.runner.on_guest_event)  # as cloud.py wires it
    (instance_id,) = engine.launch(1)
    engine.submit_pending()
    await engine.settle()
    return instance_id


def power_off_log(engine: Engine, instance_id: str) -> list[str]:
    with engine.store.read() as conn:
        return list(conn.execute(sa.select(events.c.message).where(
            events.c.resource_id == instance_id, events.c.kind == "GuestPoweredOff")).scalars())


def test_a_guest_powering_itself_off_is_recorded_once_with_its_reason(tmp_path: Path) -> None:
    async def body(engine: Engine) -> None:
        instance_id = await running(engine)
        engine.driver.guests[instance_id].control("poweroff")  # `poweroff` typed inside the guest
        await asyncio.sleep(0)  # the guest goes down on the next turn of the loop
        assert engine.instance(instance_id).state == lc.STOPPED
        assert power_off_log(engine, instance_id) == ["the guest OS powered off by itself"]
        # A second report of the same power-off (recovery's look, the sweep) changes nothing.
        engine.runner.guest_went_off(instance_id, "found off again")
        assert power_off_log(engine, instance_id) == ["the guest OS powered off by itself"]

    run(tmp_path, body)


def test_a_power_off_minicvm_asked_for_is_not_recorded_as_one(tmp_path: Path) -> None:
    async def body(engine: Engine) -> None:
        instance_id = await running(engine)
        with engine.store.write() as conn:
            accepted = ops.accept(conn, account_id=ACCOUNT, region=REGION, action="StopInstances",
                                  instance_ids=[instance_id], request_id=ids.new_request_id(),
                                  params=lc.StopRequest(StopType.SOFT))
        engine.runner.submit(accepted.operation_ids)
        await engine.settle()
        inst = engine.instance(instance_id)
        assert (inst.state, inst.latest_operation, inst.latest_operation_state) == (
            lc.STOPPED, "StopInstances", lc.SUCCESS)
        assert power_off_log(engine, instance_id) == []

    run(tmp_path, body)
