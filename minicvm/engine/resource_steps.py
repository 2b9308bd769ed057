"""Operation steps on disks and addresses (CBS create/delete/attach/detach/expand, EIP create/bind/unbind/
release). Like instance steps they are idempotent, so recovery after a crash simply runs them again."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from minicvm.domain.steps import (
    AttachDisk,
    BindAddress,
    CreateAddress,
    CreateDisk,
    DeleteDisk,
    DetachDisk,
    ExpandDisk,
    ReleaseAddress,
    ResourceStep,
    UnbindAddress,
)
from minicvm.drivers.base import DiskSpec, Driver, GuestError
from minicvm.engine import network
from minicvm.store.db import Store
from minicvm.store.tables import addresses, disks, instances


class ResourceStepFailed(Exception):
    pass


async def run(store: Store, driver: Driver, op: Any, step: ResourceStep, delay_seconds: float) -> None:
    """Run one step after `delay_seconds`: Tencent's disk and address actions are asynchronous too.
    Making and removing a disk's storage shows in no state, so those run at once."""
    match step:
        case CreateDisk(size=size):
            await _create(store, driver, op, size)
            return
        case DeleteDisk():
            await driver.delete_disk(op.resource_id)
            return
    await asyncio.sleep(delay_seconds)
    match step:
        case AttachDisk(instance_id=instance_id):
            await _attach(store, driver, op, instance_id)
        case DetachDisk():
            await _detach(store, driver, op)
        case ExpandDisk(size=size):
            await _expand(store, op, size)
        case CreateAddress():
            await _eip_create(store, op)
        case BindAddress():
            await _eip_bind(store, op)
        case UnbindAddress(reallocate=reallocate):
            await _eip_unbind(store, op, reallocate)
        case ReleaseAddress():
            await _eip_release(store, op)
        case _:
            raise ValueError(f"unknown step {step!r}")


async def _create(store: Store, driver: Driver, op: Any, size: int) -> None:
    try:
        await driver.create_disk(op.resource_id, size)
    finally:
        # TerminateDisks may have come meanwhile: its DeleteDisk ran before or during this, so the
        # storage just made would be left behind. The row is gone before any DeleteDisk is queued.
        with store.read() as conn:
            gone = conn.execute(sa.select(disks.c.id).where(disks.c.id == op.resource_id)).first() is None
        if gone:
            await driver.delete_disk(op.resource_id)


async def _attach(store: Store, driver: Driver, op: Any, instance_id: str) -> None:
    with store.read() as conn:
        disk = conn.execute(sa.select(disks).where(disks.c.id == op.resource_id)).one()
    try:
        await driver.attach_disk(instance_id, DiskSpec(disk.id, disk.size, False))
    except GuestError as exc:
        with store.write() as conn:
            conn.execute(disks.update().where(disks.c.id == disk.id).values(state="UNATTACHED", instance_id=None))
        raise ResourceStepFailed(str(exc)) from None
    with store.write() as conn:
        conn.execute(disks.update().where(disks.c.id == disk.id).values(state="ATTACHED"))


async def _detach(store: Store, driver: Driver, op: Any) -> None:
    with store.read() as conn:
        disk = conn.execute(sa.select(disks).where(disks.c.id == op.resource_id)).one()
    if disk.instance_id:
        try:
            await driver.detach_disk(disk.instance_id, disk.id)
        except GuestError as exc:
            # The guest kept the disk (a driver without hot-plug, and the instance started meanwhile):
            # so does the store.
            with store.write() as conn:
                conn.execute(disks.update().where(disks.c.id == disk.id).values(state="ATTACHED"))
            raise ResourceStepFailed(str(exc)) from None
    with store.write() as conn:
        conn.execute(disks.update().where(disks.c.id == disk.id).values(
            state="UNATTACHED", instance_id=None, last_instance_id=disk.instance_id or disk.last_instance_id))


async def _expand(store: Store, op: Any, size: int) -> None:
    # The new size is taken by the guest at its next boot (both drivers grow disks before booting).
    with store.write() as conn:
        disk = conn.execute(sa.select(disks).where(disks.c.id == op.resource_id)).one()
        conn.execute(disks.update().where(disks.c.id == disk.id).values(
            size=max(disk.size, size), state="ATTACHED" if disk.instance_id else "UNATTACHED"))


async def _eip_create(store: Store, op: Any) -> None:
    with store.write() as conn:
        conn.execute(addresses.update().where(addresses.c.id == op.resource_id, addresses.c.status == "CREATING")
                     .values(status="UNBIND"))


async def _eip_bind(store: Store, op: Any) -> None:
    with store.write() as conn:
        conn.execute(addresses.update().where(addresses.c.id == op.resource_id).values(status="BIND"))


async def _eip_unbind(store: Store, op: Any, reallocate: bool) -> None:
    with store.write() as conn:
        row = conn.execute(sa.select(addresses).where(addresses.c.id == op.resource_id)).one()
        conn.execute(addresses.update().where(addresses.c.id == op.resource_id).values(
            status="UNBIND", instance_id=None, private_ip=None))
        if reallocate and row.instance_id:
            conn.execute(instances.update().where(instances.c.id == row.instance_id).values(public_ip_wanted=True))
            network.assign_wan_ip(conn, row.instance_id)


async def _eip_release(store: Store, op: Any) -> None:
    with store.write() as conn:
        conn.execute(addresses.delete().where(addresses.c.id == op.resource_id))

