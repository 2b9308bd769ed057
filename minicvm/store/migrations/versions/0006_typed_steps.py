"""operation steps stored as tagged JSON

Revision ID: 0006
Revises: 0005

Until 0005 an operation's steps were strings ("stop:SOFT", "apply", "disk:attach", ...) and what they
needed lived in the operation's params. From 0006 each step is a tagged JSON object carrying its own
arguments (minicvm/domain/steps.py). Converting every row, finished or in flight, keeps one stored form, so
a database upgraded with operations in flight still recovers. The conversion is written out here rather
than imported, so that it stays what it was when later code changes.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

operations = sa.table(
    "operations",
    sa.column("id", sa.String),
    sa.column("action", sa.String),
    sa.column("steps", sa.JSON),
    sa.column("params", sa.JSON),
)

_PLAIN = {
    "launch": "Launch", "start": "PowerOn", "isolate": "Isolate", "disk:detach": "DetachDisk",
    "eip:create": "CreateAddress", "eip:bind": "BindAddress", "eip:release": "ReleaseAddress",
}


def _change(action: str, params: dict[str, Any]) -> dict[str, Any] | None:
    if action == "ResetInstancesType":
        return {"change": "ChangeInstanceType", "instance_type": params["InstanceType"]}
    if action == "ResizeInstanceDisks":
        sizes = list((params.get("disk_sizes") or {}).items())
        disk_id, size = sizes[0] if sizes else (None, 0)
        return {"change": "GrowDisk", "disk_id": disk_id, "size": int(size), "online": bool(params.get("ResizeOnline"))}
    if action == "ResetInstancesPassword":
        return {"change": "ResetPassword", "password_hash": params["password_hash"],
                "changed_at": params["password_changed_at"], "login_user": params["login_user"]}
    if action in ("AssociateInstancesKeyPairs", "DisassociateInstancesKeyPairs"):
        kind = "BindKeys" if action == "AssociateInstancesKeyPairs" else "UnbindKeys"
        return {"change": kind, "key_ids": list(params.get("KeyIds") or [])}
    return None  # ModifyInstancesAttribute only ever stored a reboot


def typed_step(step: str, action: str, params: dict[str, Any]) -> dict[str, Any] | None:
    if step in _PLAIN:
        return {"step": _PLAIN[step]}
    kind, _, arg = step.partition(":")
    if kind == "stop":
        return {"step": "PowerOff", "stop_type": arg, "stopped_mode": params.get("StoppedMode") or "KEEP_CHARGING"}
    if kind == "reboot":
        return {"step": "Reboot", "stop_type": arg}
    if step == "apply":
        change = _change(action, params)
        return {"step": "Apply", "change": change} if change else None
    if step == "destroy":
        return {"step": "Destroy", "release_address": bool(params.get("ReleaseAddress"))}
    if step == "disk:attach":
        return {"step": "AttachDisk", "instance_id": params["instance_id"]}
    if step == "disk:expand":
        return {"step": "ExpandDisk", "size": int(params["size"])}
    if step == "eip:unbind":
        return {"step": "UnbindAddress", "reallocate": bool(params.get("reallocate"))}
    raise ValueError(f"operation step {step!r} is not known to this migration")


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(operations.c.id, operations.c.action, operations.c.steps, operations.c.params))
    for row in list(rows):
        steps = list(row.steps or [])
        if not any(isinstance(s, str) for s in steps):
            continue
        params = dict(row.params or {})
        typed = [s if not isinstance(s, str) else typed_step(s, row.action, params) for s in steps]
        conn.execute(operations.update().where(operations.c.id == row.id)
                     .values(steps=[s for s in typed if s is not None]))


_PLAIN_BACK = {v: k for k, v in _PLAIN.items()}


def string_step(step: dict[str, Any], params: dict[str, Any]) -> str:
    """The old form of a typed step; what it carried goes back into `params`."""
    kind = step["step"]
    if kind in _PLAIN_BACK:
        return _PLAIN_BACK[kind]
    if kind == "PowerOff":
        params["StoppedMode"] = step["stopped_mode"]
        return f"stop:{step['stop_type']}"
    if kind == "Reboot":
        return f"reboot:{step['stop_type']}"
    if kind == "Destroy":
        params["ReleaseAddress"] = step["release_address"]
        return "destroy"
    if kind == "AttachDisk":
        params["instance_id"] = step["instance_id"]
        return "disk:attach"
    if kind == "ExpandDisk":
        params["size"] = step["size"]
        return "disk:expand"
    if kind == "UnbindAddress":
        params["reallocate"] = step["reallocate"]
        return "eip:unbind"
    if kind == "Apply":
        change = step["change"]
        if change["change"] == "ChangeInstanceType":
            params["InstanceType"] = change["instance_type"]
        elif change["change"] == "GrowDisk":
            params["disk_sizes"] = {change["disk_id"]: change["size"]} if change["disk_id"] else {}
            params["ResizeOnline"] = change["online"]
        elif change["change"] == "ResetPassword":
            params.update(password_hash=change["password_hash"], password_changed_at=change["changed_at"],
                          login_user=change["login_user"])
        else:
            params["KeyIds"] = change["key_ids"]
        return "apply"
    raise ValueError(f"operation step {kind!r} is not known to this migration")


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(operations.c.id, operations.c.steps, operations.c.params))
    for row in list(rows):
        steps = list(row.steps or [])
        if not any(isinstance(s, dict) for s in steps):
            continue
        params = dict(row.params or {})
        old = [s if isinstance(s, str) else string_step(s, params) for s in steps]
        conn.execute(operations.update().where(operations.c.id == row.id).values(steps=old, params=params))
