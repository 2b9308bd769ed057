"""TAT's state: commands, invocations and their tasks, in the store. Invocations are written whole
(one task per instance, PENDING) before the engine's command runner starts on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from minicvm import ids
from minicvm.domain import lifecycle as lc
from minicvm.engine.commands import InvocationStatus, TaskStatus
from minicvm.errors import ApiError
from minicvm.services import listing
from minicvm.services.context import Context
from minicvm.services.tat.rules import CommandDocument
from minicvm.store.tables import instances, tat_commands, tat_invocations, tat_tasks
from minicvm.timefmt import now


class TatBackend:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.cloud.store
        self.account_id = ctx.account.id
        self.region = ctx.region

    # ---- commands --------------------------------------------------------------------------------

    def _mine(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        return [table.c.account_id == self.account_id, table.c.region == self.region]

    def create_command(self, name: str, description: str, doc: CommandDocument, tags: list[dict[str, str]]) -> str:
        ts = now()
        command_id = ids.new_id("cmd")
        with self.store.write() as conn:
            if conn.execute(sa.select(tat_commands.c.id).where(*self._mine(tat_commands),
                                                               tat_commands.c.name == name)).first():
                raise ApiError("InvalidParameterValue.CommandNameDuplicated",
                               f"A command named {name!r} already exists.")
            conn.execute(tat_commands.insert().values(
                id=command_id, account_id=self.account_id, region=self.region, name=name, description=description,
                content=doc.content, command_type=doc.command_type, working_directory=doc.working_directory,
                timeout=doc.timeout, username=doc.username, tags=tags, created_time=ts, updated_time=ts))
        return command_id

    def command(self, command_id: str) -> Any:
        with self.store.read() as conn:
            row = conn.execute(sa.select(tat_commands).where(*self._mine(tat_commands),
                                                             tat_commands.c.id == command_id)).first()
        if row is None:
            raise ApiError("ResourceNotFound.CommandNotFound", f"The command {command_id} does not exist.")
        return row

    def describe_commands(self, wanted: list[str], filters: dict[str, list[str]], offset: int,
                          limit: int) -> tuple[int, list[Any]]:
        c = tat_commands.c
        where = self._mine(tat_commands) + listing.filter_clauses(
            filters, {"command-id": c.id, "command-name": c.name},
            {"created-by": lambda values: sa.true() if "USER" in values else sa.false(),
             "command-type": lambda values: c.command_type.in_(values)})
        if wanted:
            where.append(c.id.in_(wanted))
        with self.store.read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(tat_commands).where(*where)).scalar_one()
            rows = conn.execute(sa.select(tat_commands).where(*where).order_by(c.created_time.desc(), c.id)
                                .offset(offset).limit(limit)).all()
        return int(total), list(rows)

    def delete_command(self, command_id: str) -> None:
        self.command(command_id)
        with self.store.write() as conn:
            conn.execute(tat_commands.delete().where(tat_commands.c.id == command_id))

    # ---- invocations -----------------------------------------------------------------------------

    def check_instances(self, instance_ids: Sequence[str]) -> None:
        """Every instance exists and its agent is online now (Tencent refuses the whole call otherwise)."""
        with self.store.read() as conn:
            rows = {r.id: r.state for r in conn.execute(sa.select(instances.c.id, instances.c.state).where(
                *self._mine(instances), instances.c.id.in_(list(instance_ids))))}
        missing = [i for i in instance_ids if i not in rows]
        if missing:
            raise ApiError("ResourceNotFound.InstanceNotFound", f"The instances {missing} do not exist.")
        not_running = [i for i in instance_ids if rows[i] != lc.RUNNING]
        if not_running:
            raise ApiError("ResourceUnavailable.InstanceStateNotRunning",
                           f"The instances {not_running} are not RUNNING.")
        offline = [i for i in instance_ids if not self.ctx.cloud.driver.agent_online(i)]
        if offline:
            raise ApiError("ResourceUnavailable.AgentStatusNotOnline",
                           f"The automation agent of the instances {offline} is not online.")

    def invoke(self, command_id: str, command_name: str, description: str, doc: CommandDocument,
               instance_ids: Sequence[str]) -> str:
        self.check_instances(instance_ids)
        ts = now()
        invocation_id = ids.new_id("inv")
        with self.store.write() as conn:
            conn.execute(tat_invocations.insert().values(
                id=invocation_id, account_id=self.account_id, region=self.region, command_id=command_id,
                command_name=command_name, description=description, status=InvocationStatus.PENDING,
                content=doc.content, command_type=doc.command_type, working_directory=doc.working_directory,
                timeout=doc.timeout, username=doc.username, created_time=ts, updated_time=ts, end_time=None))
            conn.execute(tat_tasks.insert(), [
                {"id": ids.new_id("invt"), "invocation_id": invocation_id, "account_id": self.account_id,
                 "instance_id": instance_id, "status": TaskStatus.PENDING, "exit_code": None, "output": "",
                 "dropped": 0, "error_info": "", "created_time": ts, "updated_time": ts,
                 "exec_start_time": None, "exec_end_time": None}
                for instance_id in instance_ids])
        self.ctx.cloud.commands.start(invocation_id)
        return invocation_id

    def describe_invocations(self, wanted: list[str], filters: dict[str, list[str]], offset: int,
                             limit: int) -> tuple[int, list[Any], dict[str, list[Any]]]:
        c = tat_invocations.c
        where = self._mine(tat_invocations) + listing.filter_clauses(
            filters, {"invocation-id": c.id, "command-id": c.command_id},
            {"command-created-by": lambda values: sa.true() if "USER" in values else sa.false(),
             "instance-kind": lambda values: sa.true() if "CVM" in values else sa.false()})
        if wanted:
            where.append(c.id.in_(wanted))
        with self.store.read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(tat_invocations).where(*where)).scalar_one()
            rows = conn.execute(sa.select(tat_invocations).where(*where).order_by(c.created_time.desc(), c.id)
                                .offset(offset).limit(limit)).all()
            tasks: dict[str, list[Any]] = {r.id: [] for r in rows}
            for t in conn.execute(sa.select(tat_tasks.c.id, tat_tasks.c.invocation_id, tat_tasks.c.status,
                                            tat_tasks.c.instance_id)
                                  .where(tat_tasks.c.invocation_id.in_(list(tasks))).order_by(tat_tasks.c.id)):
                tasks[t.invocation_id].append(t)
        return int(total), list(rows), tasks

    def describe_tasks(self, wanted: list[str], filters: dict[str, list[str]], offset: int,
                       limit: int) -> tuple[int, list[Any]]:
        t, i = tat_tasks.c, tat_invocations.c
        joined = tat_tasks.join(tat_invocations, t.invocation_id == i.id)
        where = self._mine(tat_invocations) + listing.filter_clauses(
            filters, {"invocation-task-id": t.id, "invocation-id": t.invocation_id, "instance-id": t.instance_id,
                      "command-id": i.command_id})
        if wanted:
            where.append(t.id.in_(wanted))
        columns = [*tat_tasks.c, *(col.label(f"inv_{col.name}") for col in tat_invocations.c)]
        with self.store.read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(joined).where(*where)).scalar_one()
            rows = conn.execute(sa.select(*columns).select_from(joined).where(*where)
                                .order_by(t.created_time.desc(), t.id).offset(offset).limit(limit)).all()
        return int(total), list(rows)

    def agents(self, wanted: list[str], filters: dict[str, list[str]], offset: int,
               limit: int) -> tuple[int, list[tuple[str, bool]]]:
        c = instances.c
        where = self._mine(instances) + listing.filter_clauses(
            filters, {"instance-id": c.id},
            {"environment": lambda values: sa.true() if "Linux" in values else sa.false(),
             "agent-status": lambda values: sa.true()})
        if wanted:
            where.append(c.id.in_(wanted))
        with self.store.read() as conn:
            rows = conn.execute(sa.select(c.id, c.state).where(*where).order_by(c.created_time, c.id)).all()
        driver = self.ctx.cloud.driver
        found = [(r.id, r.state == lc.RUNNING and driver.agent_online(r.id)) for r in rows]
        if "agent-status" in filters:  # known only now, from the driver
            wanted_status = set(filters["agent-status"])
            found = [(i, on) for i, on in found if ("Online" if on else "Offline") in wanted_status]
        return len(found), found[offset:offset + limit]
