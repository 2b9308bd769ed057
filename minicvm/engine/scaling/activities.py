"""Scaling activities: the record a person reads to learn what a group did and why."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm import ids
from minicvm.store.tables import scaling_activities
from minicvm.timefmt import now

DONE = ("SUCCESSFUL", "FAILED")


def start(conn: sa.Connection, *, group_id: str, account_id: int, activity_type: str, cause: str, description: str,
          instance_ids: list[str]) -> str:
    activity_id = ids.new_id("asa")
    conn.execute(scaling_activities.insert().values(
        id=activity_id, group_id=group_id, account_id=account_id, activity_type=activity_type, status_code="RUNNING",
        status_message="", cause=cause, description=description,
        instances=[{"InstanceId": i, "InstanceStatus": "RUNNING"} for i in instance_ids], start_time=now()))
    return activity_id


def add_instances(conn: sa.Connection, activity_id: str, instance_ids: list[str]) -> None:
    row = conn.execute(sa.select(scaling_activities.c.instances).where(scaling_activities.c.id == activity_id)).one()
    items = list(row.instances) + [{"InstanceId": i, "InstanceStatus": "RUNNING"} for i in instance_ids]
    conn.execute(scaling_activities.update().where(scaling_activities.c.id == activity_id).values(instances=items))


def instance_done(conn: sa.Connection, activity_id: str | None, instance_id: str, ok: bool, message: str = "") -> None:
    """Mark one instance of an activity; the activity ends when all of its instances have."""
    if not activity_id:
        return
    row = conn.execute(sa.select(scaling_activities).where(scaling_activities.c.id == activity_id)).first()
    if row is None:
        return
    items: list[dict[str, Any]] = [dict(i) for i in row.instances]
    for item in items:
        if item["InstanceId"] == instance_id and item["InstanceStatus"] not in DONE:
            item["InstanceStatus"] = "SUCCESSFUL" if ok else "FAILED"
    values: dict[str, Any] = {"instances": items}
    if message:
        values["status_message"] = (row.status_message + " " + message).strip()
    statuses = {i["InstanceStatus"] for i in items}
    if statuses <= set(DONE):
        values["status_code"] = ("SUCCESSFUL" if statuses == {"SUCCESSFUL"} else
                                 "FAILED" if statuses == {"FAILED"} else "PARTIALLY_SUCCESSFUL")
        values["end_time"] = now()
        if not row.status_message and not message:
            values["status_message"] = "Success" if values["status_code"] == "SUCCESSFUL" else "See the instances."
    conn.execute(scaling_activities.update().where(scaling_activities.c.id == activity_id).values(**values))


def finish(conn: sa.Connection, activity_id: str, status: str = "SUCCESSFUL", message: str = "Success") -> None:
    conn.execute(scaling_activities.update().where(scaling_activities.c.id == activity_id).values(
        status_code=status, status_message=message, end_time=now()))
