"""Carries accepted operations out through the driver, one step at a time, recording each step's
outcome durably. On start-up it finishes whatever was left in flight (see recover())."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from minicvm.domain import lifecycle as lc
from minicvm.domain.states import DEFAULT_STOPPED_MODE, StoppedMode, StopType
from minicvm.domain.steps import (
    Apply,
    Change,
    Destroy,
    InstanceStep,
    Isolate,
    Launch,
    PowerOff,
    PowerOn,
    Reboot,
    ResourceStep,
    decode_steps,
)
from minicvm.drivers.base import Driver, GuestError, GuestEvent, GuestEventKind, GuestSpec, PowerState, StopMode
from minicvm.engine import network, resource_steps
from minicvm.engine.changes import apply_changes, write_first_login
from minicvm.engine.events import Bus
from minicvm.engine.guest_spec import build_spec
from minicvm.store.db import Store
from minicvm.store.statements import INSTANCE, OPERATION, OPERATION_PROGRESS, OPERATION_SUCCEEDED, set_instance
from minicvm.store.tables import addresses, classic_links, disks, events, instances, lb_targets, operations
from minicvm.timefmt import now

log = logging.getLogger(__name__)

PowerOffHook = Callable[[Any, str], Awaitable[None]]
BootHook = Callable[[Any], Awaitable[None]]
# Power changes arrive as driver events at once; this is only how often the driver's safety net looks.
SAFETY_NET_SECONDS = 5.0


class StepFailed(Exception):
    """The step could not be done; `state` is where the instance is left, `message` the reason."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.state = state
        self.message = message


@dataclass(frozen=True)
class RunnerSettings:
    data_dir: Path  # where the host-shutdown marker is kept between two runs
    soft_stop_timeout: float  # how long a SOFT stop waits for the guest to honour the power button
    hard_stop_seconds: float  # how long a HARD stop stays visibly STOPPING (or REBOOTING) before the plug
    async_op_seconds: float  # how long a disk or address step takes, as Tencent's asynchronous ones do


class Runner:
    def __init__(self, store: Store, driver: Driver, bus: Bus, settings: RunnerSettings) -> None:
        self.store = store
        self.driver = driver
        self.bus = bus
        self.settings = settings
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # Called before minicvm powers a guest off on purpose (the CLB drains here).
        self.before_power_off: list[PowerOffHook] = []
        # Called with the instance's row before its guest boots (its security groups are compiled here).
        self.before_boot: list[BootHook] = []

    def submit(self, op_ids: list[str]) -> None:
        for op_id in op_ids:
            if op_id not in self.tasks:
                task = asyncio.get_running_loop().create_task(self._run(op_id))
                self.tasks[op_id] = task
                task.add_done_callback(functools.partial(self._forget, op_id))

    def _forget(self, op_id: str, _task: asyncio.Task[None]) -> None:
        self.tasks.pop(op_id, None)

    async def idle(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks.values()), return_exceptions=True)

    async def cancel_all(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*list(self.tasks.values()), return_exceptions=True)

    # ---- recovery -------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Finish every operation left in flight, and bring guests back in line with the store."""
        with self.store.read() as conn:
            pending = list(conn.execute(
                sa.select(operations.c.id, operations.c.resource_id)
                .where(operations.c.state == lc.OPERATING).order_by(operations.c.seq)
            ))
            busy = {r.resource_id for r in pending}
            running = [r for r in conn.execute(sa.select(instances).where(instances.c.state == lc.RUNNING))
                       if r.id not in busy]
            specs = {r.id: build_spec(conn, r) for r in running}
        self.submit([r.id for r in pending])
        shut_down_by_us = self._take_host_shutdown_marker()
        for inst in running:
            if await self.driver.power_state(inst.id) is PowerState.RUNNING:
                continue
            if self.driver.capabilities.guests_survive_restart and inst.id not in shut_down_by_us:
                self._record_unexpected_stop(inst, "the guest was found powered off when minicvm started")
            else:
                # Our own orderly stop (or sim guests, which live in this process): a host reboot.
                asyncio.get_running_loop().create_task(self._reboot_after_host_restart(specs[inst.id]))

    def _marker(self) -> Path:
        return self.settings.data_dir / "host-shutdown.json"

    def write_host_shutdown_marker(self) -> None:
        """Before powering guests off at an orderly server stop, remember which were RUNNING, so the
        next start boots them again instead of reporting that they died."""
        with self.store.read() as conn:
            running = list(conn.execute(sa.select(instances.c.id).where(instances.c.state == lc.RUNNING)).scalars())
        self._marker().write_text(json.dumps(running))

    def _take_host_shutdown_marker(self) -> set[str]:
        try:
            ids = set(json.loads(self._marker().read_text()))
        except (FileNotFoundError, ValueError):
            return set()
        self._marker().unlink(missing_ok=True)
        return ids

    def on_guest_event(self, event: GuestEvent) -> None:
        """The driver's one channel for power changes (subscribed once, when the cloud is wired)."""
        if event.kind is GuestEventKind.WENT_OFF:
            self.guest_went_off(event.instance_id, event.reason)

    async def watch_power(self) -> None:
        """Runs for the server's life: the driver's slow safety net for power changes whose events it
        could have missed (what it finds arrives through on_guest_event like any other)."""
        while True:
            try:
                await self.driver.sweep()
            except Exception:
                log.exception("the driver's power sweep failed")
            await asyncio.sleep(SAFETY_NET_SECONDS)

    async def _reboot_after_host_restart(self, spec: GuestSpec) -> None:
        try:
            await self.driver.start(spec)
        except GuestError as exc:
            log.warning("could not boot %s after restart: %s", spec.instance_id, exc)

    def guest_went_off(self, instance_id: str, reason: str) -> None:
        """The driver saw a guest go off. If no operation of ours is doing that, the guest did it by
        itself: the instance is STOPPED from now on, with an entry in its log saying why."""
        with self.store.read() as conn:
            inst = INSTANCE.first(conn, id=instance_id)
        if inst is None or inst.state != lc.RUNNING or inst.latest_operation_state == lc.OPERATING:
            return
        self._record_unexpected_stop(inst, reason)

    def _record_unexpected_stop(self, inst: Any, why: str) -> None:
        """Compare-and-set, so that one power-off is recorded once even when two paths report it (the
        driver's event and recovery's look at the power state) or an operation took the instance since."""
        with self.store.write() as conn:
            changed = conn.execute(instances.update().where(
                instances.c.id == inst.id, instances.c.state == lc.RUNNING,
                sa.or_(instances.c.latest_operation_state.is_(None), instances.c.latest_operation_state != lc.OPERATING),
            ).values(state=lc.STOPPED, stopped_mode=DEFAULT_STOPPED_MODE)).rowcount
            if changed != 1:
                return
            conn.execute(events.insert().values(account_id=inst.account_id, resource_id=inst.id,
                                                kind="GuestPoweredOff", message=why, created_time=now()))
        self._publish(inst.id, inst.account_id, lc.STOPPED)

    # ---- running one operation ------------------------------------------------------------------

    async def _run(self, op_id: str) -> None:
        with self.store.read() as conn:
            op = OPERATION.first(conn, id=op_id)
            assert op is not None, f"operation {op_id} was submitted but is not stored"
            inst = INSTANCE.first(conn, id=op.resource_id)
        if inst is not None:
            # Tell listeners (the console) about the transitional state the action was accepted into.
            self._publish(op.resource_id, op.account_id, inst.state, action=op.action, operation_state=lc.OPERATING)
        stored = decode_steps(op.steps)
        resource = [s for s in stored if isinstance(s, ResourceStep)]
        if resource:  # an operation on a disk or an address: it has only those steps
            await self._run_resource(op, resource)
            return
        steps = [s for s in stored if isinstance(s, InstanceStep)]
        try:
            for index in range(op.step, len(steps)):
                # The row just read serves the first step; later steps read it anew.
                values = await self._do_step(op, steps[index], first=index == 0,
                                             inst=inst if index == op.step else None)
                self._finish_step(op, index, len(steps), values)
        except StepFailed as failure:
            self._fail(op, failure.state, failure.message)
        except asyncio.CancelledError:
            raise  # server shutdown: the operation stays OPERATING and is resumed at the next start
        except Exception as exc:  # a bug must never leave an instance stuck in a transitional state
            log.exception("operation %s failed", op_id)
            state = await self._settled_state(op.resource_id)
            self._fail(op, state, f"internal error: {exc}")

    async def _run_resource(self, op: Any, steps: list[ResourceStep]) -> None:
        state, error = lc.SUCCESS, None
        try:
            for step in steps[op.step:]:
                await resource_steps.run(self.store, self.driver, op, step, self.settings.async_op_seconds)
        except resource_steps.ResourceStepFailed as exc:
            state, error = lc.FAILED, str(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("operation %s failed", op.id)
            state, error = lc.FAILED, f"internal error: {exc}"
        with self.store.write() as conn:
            conn.execute(operations.update().where(operations.c.id == op.id).values(
                state=state, error=error, step=len(steps), updated_time=now()))
        self.bus.publish({"type": "resource", "resource_id": op.resource_id, "account_id": op.account_id,
                                "action": op.action, "operation_state": state})

    async def _settled_state(self, instance_id: str) -> str:
        power = await self.driver.power_state(instance_id)
        return lc.RUNNING if power is PowerState.RUNNING else lc.STOPPED

    def _instance(self, instance_id: str) -> Any:
        with self.store.read() as conn:
            return INSTANCE.first(conn, id=instance_id)

    def _enter(self, op: Any, state: str, first: bool) -> None:
        """Move into a step's transitional state; accepting the operation already did that for the first."""
        if first:
            return
        with self.store.write() as conn:
            set_instance(conn, op.resource_id, {"state": state})
        self._publish(op.resource_id, op.account_id, state)

    def _publish(self, instance_id: str, account_id: int, state: str, **extra: Any) -> None:
        self.bus.publish({"type": "instance", "instance_id": instance_id, "account_id": account_id,
                                "state": state, **extra})

    def _finish_step(self, op: Any, index: int, total: int, values: dict[str, Any]) -> None:
        if values.get("__deleted__"):
            return
        last = index == total - 1
        with self.store.write() as conn:
            if values:
                set_instance(conn, op.resource_id, values)
            if last:
                OPERATION_SUCCEEDED.run(conn, id=op.resource_id, request_id=op.request_id)
            OPERATION_PROGRESS.run(conn, id=op.id, step=index + 1, state=lc.SUCCESS if last else lc.OPERATING,
                                   updated_time=now())
        if "state" in values or last:
            self._publish(op.resource_id, op.account_id, values.get("state", ""), action=op.action,
                          operation_state=lc.SUCCESS if last else lc.OPERATING)

    def _fail(self, op: Any, state: str, message: str) -> None:
        with self.store.write() as conn:
            conn.execute(instances.update().where(instances.c.id == op.resource_id).values(
                state=state, latest_operation_state=lc.FAILED, latest_operation_error=message))
            conn.execute(operations.update().where(operations.c.id == op.id).values(
                state=lc.FAILED, error=message, updated_time=now()))
        self._publish(op.resource_id, op.account_id, state, action=op.action, operation_state=lc.FAILED,
                      error=message)

    async def _do_step(self, op: Any, step: InstanceStep, first: bool, inst: Any = None) -> dict[str, Any]:
        if step.enters is not None:
            self._enter(op, step.enters, first)
        match step:
            case Launch():
                await write_first_login(self.store, self.driver, op.resource_id)
                return await self._boot(op.resource_id, failed_state=lc.LAUNCH_FAILED, inst=inst)
            case PowerOn():
                return await self._boot(op.resource_id, failed_state=lc.STOPPED, inst=inst)
            case PowerOff():
                return await self._power_off_step(op, step, inst)
            case Reboot(stop_type=stop_type):
                await self._power_off_or_fail(op, stop_type, inst)
                return await self._boot(op.resource_id, failed_state=lc.STOPPED)
            case Apply(change=change):
                return await self._apply(op, change)
            case Destroy(release_address=release_address):
                return await self._destroy(op, release_address)
            case Isolate():
                await self.driver.stop(op.resource_id, StopMode.HARD, 0)
                return {"state": step.ends_in, "isolated_source": "MANMADE", "stopped_mode": None}
        raise ValueError(f"unknown step {step!r}")

    async def _boot(self, instance_id: str, failed_state: str, inst: Any = None) -> dict[str, Any]:
        with self.store.read() as conn:
            inst = inst or INSTANCE.first(conn, id=instance_id)
            spec = build_spec(conn, inst)
        if inst.public_ip_wanted:
            # Only instances that want a plain public IP need the write (a new one after STOP_CHARGING).
            with self.store.write() as conn:
                network.assign_wan_ip(conn, instance_id)
        for hook in self.before_boot:
            await hook(inst)
        try:
            await self.driver.start(spec)
        except GuestError as exc:
            raise StepFailed(failed_state, str(exc)) from None
        return {"state": lc.RUNNING, "stopped_mode": None}

    async def power_off(self, instance_id: str, stop_type: StopType) -> bool:
        """SOFT: power button only. SOFT_FIRST: power button, then the plug. HARD: the plug."""
        if stop_type is StopType.HARD:
            if self.settings.hard_stop_seconds > 0:
                await asyncio.sleep(self.settings.hard_stop_seconds)
            return await self.driver.stop(instance_id, StopMode.HARD, 0)
        if await self.driver.stop(instance_id, StopMode.SOFT, self.settings.soft_stop_timeout):
            return True
        if stop_type is StopType.SOFT:
            return False
        return await self.driver.stop(instance_id, StopMode.HARD, 0)

    async def _power_off_or_fail(self, op: Any, stop_type: StopType, inst: Any = None) -> None:
        inst = inst or self._instance(op.resource_id)
        for hook in self.before_power_off:
            await hook(inst, op.action)
        if not await self.power_off(op.resource_id, stop_type):
            raise StepFailed(
                lc.RUNNING,
                f"the guest OS did not shut down within {self.settings.soft_stop_timeout:g} s of the "
                f"power button (StopType {stop_type}); use SOFT_FIRST or HARD to force it",
            )

    async def _power_off_step(self, op: Any, step: PowerOff, inst: Any = None) -> dict[str, Any]:
        await self._power_off_or_fail(op, step.stop_type, inst)
        if step.stopped_mode is StoppedMode.STOP_CHARGING:
            with self.store.write() as conn:
                network.release_wan_ip(conn, op.resource_id)
        return {"state": step.ends_in, "stopped_mode": step.stopped_mode}

    async def _apply(self, op: Any, change: Change) -> dict[str, Any]:
        return await apply_changes(self.store, self.driver, op, change)

    async def _destroy(self, op: Any, release_address: bool) -> dict[str, Any]:
        instance_id = op.resource_id
        await self.driver.destroy(instance_id)
        with self.store.read() as conn:
            owned = list(conn.execute(sa.select(disks.c.id, disks.c.portable, disks.c.delete_with_instance)
                                      .where(disks.c.instance_id == instance_id)))
        for disk in owned:
            if not disk.portable or disk.delete_with_instance:
                await self.driver.delete_disk(disk.id)
        with self.store.write() as conn:
            for disk in owned:
                if not disk.portable or disk.delete_with_instance:
                    conn.execute(disks.delete().where(disks.c.id == disk.id))
                else:
                    conn.execute(disks.update().where(disks.c.id == disk.id).values(
                        instance_id=None, state="UNATTACHED", last_instance_id=instance_id))
            network.release_wan_ip(conn, instance_id)
            eips = addresses.c.instance_id == instance_id
            if release_address:
                conn.execute(addresses.delete().where(eips))
            else:
                conn.execute(addresses.update().where(eips).values(status="UNBIND", instance_id=None, private_ip=None))
            conn.execute(classic_links.delete().where(classic_links.c.instance_id == instance_id))
            # A terminated instance leaves every load balancer it was registered with.
            conn.execute(lb_targets.delete().where(lb_targets.c.instance_id == instance_id))
            conn.execute(instances.delete().where(instances.c.id == instance_id))
            conn.execute(operations.update().where(operations.c.id == op.id).values(
                state=lc.SUCCESS, step=1, updated_time=now()))
        assert Destroy.ends_in is not None  # TERMINATED
        self._publish(instance_id, op.account_id, Destroy.ends_in, action=op.action, operation_state=lc.SUCCESS)
        return {"__deleted__": True}

