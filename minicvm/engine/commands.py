"""TAT invocations carried out: one task per instance, run by the guest's command agent through the
driver, its result stored as it ends. Everything is in the store before anything runs, so a server that
dies mid-invocation leaves rows that `recover()` ends clearly at the next start (TASK_TIMEOUT: the agent's
answer was lost), never a task RUNNING forever."""

from __future__ import annotations

import asyncio
import base64
import enum
import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from minicvm.drivers.base import AgentGone, Driver, GuestError
from minicvm.store.db import Store
from minicvm.store.tables import tat_invocations, tat_tasks
from minicvm.timefmt import now

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 24 * 1024  # bytes of output kept per task; the rest is counted in Dropped


class TaskStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"  # the command's exit code was not 0
    TIMEOUT = "TIMEOUT"  # the command ran past its timeout and was killed
    TASK_TIMEOUT = "TASK_TIMEOUT"  # the agent stopped answering (guest went off, server restarted)
    START_FAILED = "START_FAILED"


class InvocationStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    PARTIAL_FAILED = "PARTIAL_FAILED"


FINAL = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.TASK_TIMEOUT,
                   TaskStatus.START_FAILED})


def invocation_status(statuses: Iterable[str]) -> InvocationStatus:
    """An invocation's status from its tasks'."""
    tasks = [TaskStatus(s) for s in statuses]
    if any(s not in FINAL for s in tasks):
        return InvocationStatus.RUNNING if any(s is TaskStatus.RUNNING for s in tasks) else InvocationStatus.PENDING
    if all(s is TaskStatus.SUCCESS for s in tasks):
        return InvocationStatus.SUCCESS
    if all(s is TaskStatus.TIMEOUT for s in tasks):
        return InvocationStatus.TIMEOUT
    if any(s is TaskStatus.SUCCESS for s in tasks):
        return InvocationStatus.PARTIAL_FAILED
    return InvocationStatus.FAILED


class CommandRunner:
    def __init__(self, store: Store, driver: Driver) -> None:
        self.store = store
        self.driver = driver
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, invocation_id: str) -> None:
        """Carry out a stored invocation in the background (the API answers at once, as Tencent's does)."""
        task = asyncio.get_running_loop().create_task(self._invoke(invocation_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _invoke(self, invocation_id: str) -> None:
        with self.store.read() as conn:
            inv = conn.execute(sa.select(tat_invocations).where(tat_invocations.c.id == invocation_id)).one()
            tasks = conn.execute(sa.select(tat_tasks.c.id, tat_tasks.c.instance_id).where(
                tat_tasks.c.invocation_id == invocation_id, tat_tasks.c.status == TaskStatus.PENDING)).all()
        script = base64.b64decode(inv.content).decode(errors="replace")
        await asyncio.gather(*(self._run_task(inv, t.id, t.instance_id, script) for t in tasks))

    async def _run_task(self, inv: Any, task_id: str, instance_id: str, script: str) -> None:
        started = now()
        self._update(inv.id, task_id, status=TaskStatus.RUNNING, exec_start_time=started)
        try:
            result = await self.driver.run_command(instance_id, script, inv.username, float(inv.timeout))
        except AgentGone as exc:
            self._update(inv.id, task_id, status=TaskStatus.TASK_TIMEOUT, error_info=str(exc), exec_end_time=now())
            return
        except GuestError as exc:
            self._update(inv.id, task_id, status=TaskStatus.START_FAILED, error_info=str(exc), exec_end_time=now())
            return
        except Exception as exc:  # the driver broke: the task ends, clearly, instead of RUNNING forever
            log.exception("TAT task %s failed in the driver", task_id)
            self._update(inv.id, task_id, status=TaskStatus.TASK_TIMEOUT, error_info=f"agent error: {exc}",
                         exec_end_time=now())
            return
        kept = result.output[:OUTPUT_LIMIT]
        if result.timed_out:
            status = TaskStatus.TIMEOUT
        else:
            status = TaskStatus.SUCCESS if result.exit_code == 0 else TaskStatus.FAILED
        self._update(inv.id, task_id, status=status, exit_code=result.exit_code,
                     output=base64.b64encode(kept).decode(), dropped=len(result.output) - len(kept),
                     exec_end_time=now())

    def _update(self, invocation_id: str, task_id: str, **values: object) -> None:
        ts = now()
        with self.store.write() as conn:
            conn.execute(tat_tasks.update().where(tat_tasks.c.id == task_id).values(updated_time=ts, **values))
            self._settle(conn, invocation_id, ts)

    @staticmethod
    def _settle(conn: sa.Connection, invocation_id: str, ts: object) -> None:
        statuses = conn.execute(sa.select(tat_tasks.c.status).where(
            tat_tasks.c.invocation_id == invocation_id)).scalars().all()
        status = invocation_status(statuses)
        ended = status not in (InvocationStatus.PENDING, InvocationStatus.RUNNING)
        conn.execute(tat_invocations.update().where(tat_invocations.c.id == invocation_id).values(
            status=status, updated_time=ts, end_time=ts if ended else None))

    def recover(self) -> None:
        """At start-up: tasks the previous server left unfinished end as TASK_TIMEOUT (their agent's answer
        is lost with that server), and their invocations get their final status."""
        ts = now()
        with self.store.write() as conn:
            stale = conn.execute(sa.select(tat_tasks.c.id, tat_tasks.c.invocation_id).where(
                tat_tasks.c.status.in_([TaskStatus.PENDING, TaskStatus.RUNNING]))).all()
            if not stale:
                return
            conn.execute(tat_tasks.update().where(tat_tasks.c.id.in_([t.id for t in stale])).values(
                status=TaskStatus.TASK_TIMEOUT, updated_time=ts, exec_end_time=ts,
                error_info="the server restarted while the task was unfinished; its result was lost"))
            for invocation_id in {t.invocation_id for t in stale}:
                self._settle(conn, invocation_id, ts)
        log.info("%d TAT tasks left unfinished by the previous server ended as TASK_TIMEOUT", len(stale))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
