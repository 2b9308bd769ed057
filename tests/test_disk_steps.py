"""An elastic disk's storage is made and removed by runner steps (CreateDisk, DeleteDisk), never by the
API handler: a crash between the API's answer and the driver's work is finished at the next start, and a
disk terminated while it is still being made leaves nothing behind. Real store, sim driver, no HTTP."""

from __future__ import annotations

from pathlib import Path

from minicvm import ids
from minicvm.domain import lifecycle as lc
from minicvm.domain.steps import CreateDisk, DeleteDisk
from minicvm.engine import operations as ops
from minicvm.store.tables import disks, operations
from minicvm.timefmt import now
from tests.support.engine import ACCOUNT, REGION, ZONE, Engine, run


def create_disk(engine: Engine) -> tuple[str, str]:
    """What CreateDisks writes in its one transaction: the disk, UNATTACHED at once, and its CreateDisk
    operation (not run yet). (disk id, operation id)"""
    disk_id = ids.new_id("disk")
    with engine.store.write() as conn:
        conn.execute(disks.insert().values(
            id=disk_id, account_id=ACCOUNT, region=REGION, zone=ZONE, instance_id=None, usage="DATA_DISK",
            disk_type="CLOUD_PREMIUM", size=20, portable=True, delete_with_instance=False, state="UNATTACHED",
            name="unit", charge_type="POSTPAID_BY_HOUR", created_time=now()))
        op_id = ops.insert_operation(conn, account_id=ACCOUNT, resource_id=disk_id, action="CreateDisks",
                                     steps=[CreateDisk(20)], request_id=ids.new_request_id())
    return disk_id, op_id


def terminate_disk(engine: Engine, disk_id: str) -> str:
    """What TerminateDisks writes: the row goes, a DeleteDisk operation is queued (not run yet)."""
    with engine.store.write() as conn:
        conn.execute(disks.delete().where(disks.c.id == disk_id))
        return ops.insert_operation(conn, account_id=ACCOUNT, resource_id=disk_id, action="TerminateDisks",
                                    steps=[DeleteDisk()], request_id=ids.new_request_id())


def op_state(engine: Engine, op_id: str) -> str:
    return engine.rows(operations, operations.c.id == op_id)[0].state


def test_a_crash_before_the_disk_was_made_or_removed_is_finished_at_the_next_start(tmp_path: Path) -> None:
    async def body(engine: Engine) -> None:
        disk_id, made = create_disk(engine)  # the server died before the runner got to it
        storage = engine.driver.disk_path(disk_id)
        assert not storage.exists()
        after = engine.restarted()
        await after.runner.recover()
        await after.settle()
        assert storage.is_dir() and op_state(engine, made) == lc.SUCCESS

        removed = terminate_disk(engine, disk_id)  # and again, before the storage went
        again = engine.restarted()
        await again.runner.recover()
        await again.settle()
        assert not storage.exists() and op_state(engine, removed) == lc.SUCCESS
        await after.close()
        await again.close()

    run(tmp_path, body)


def test_a_disk_terminated_while_being_made_leaves_nothing(tmp_path: Path) -> None:
    async def body(engine: Engine) -> None:
        disk_id, made = create_disk(engine)
        removed = terminate_disk(engine, disk_id)
        engine.runner.submit([removed, made])  # the delete even runs first
        await engine.settle()
        assert not engine.driver.disk_path(disk_id).exists()
        assert (op_state(engine, made), op_state(engine, removed)) == (lc.SUCCESS, lc.SUCCESS)

    run(tmp_path, body)
