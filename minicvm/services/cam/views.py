"""CAM's answers: its times are `YYYY-MM-DD hh:mm:ss` (Beijing time, whole seconds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minicvm.store.rows import CamAccessKey, CamUser
from minicvm.timefmt import as_utc, beijing


def cam_time(ts: datetime) -> str:
    return beijing(as_utc(ts).replace(microsecond=0)) or ""


def user(row: CamUser) -> dict[str, Any]:
    return {"Uin": int(row.uin), "Name": row.name, "Uid": row.uid, "Remark": row.remark,
            "ConsoleLogin": row.console_login, "PhoneNum": "", "CountryCode": "", "Email": row.email}


def access_key(row: CamAccessKey) -> dict[str, Any]:
    return {"AccessKeyId": row.secret_id, "Status": "Active" if row.active else "Inactive",
            "CreateTime": cam_time(row.created_time), "Description": row.description}
