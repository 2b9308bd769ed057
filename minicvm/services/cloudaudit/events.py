"""LookUpEvents: the account's audit trail, newest first, filtered by Tencent's lookup attributes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from minicvm.errors import ApiError
from minicvm.services.cloudaudit import models as m
from minicvm.services.cloudaudit import trail
from minicvm.services.cloudaudit.service import CLOUDAUDIT
from minicvm.services.context import Context
from minicvm.store.rows import AuditEvent, fetch
from minicvm.store.tables import audit_events, cam_users
from minicvm.timefmt import as_utc

MAX_RESULTS = 50
# Lookup attributes and the column each compares; ResourceName is matched among the ids the request named.
ATTRIBUTES = {"EventName": audit_events.c.action, "RequestId": audit_events.c.request_id,
              "PrincipalId": audit_events.c.principal_uin, "ResourceType": audit_events.c.resource_type,
              "ApiErrorCode": audit_events.c.error_code}


def _when(seconds: int, name: str) -> datetime:
    if not 0 <= seconds < 2**33:
        raise ApiError("InvalidParameterValue", f"`{name}` must be a Unix time in seconds.")
    return datetime.fromtimestamp(seconds, UTC)


def _username(row: AuditEvent, names: dict[str, str]) -> str:
    if row.principal_kind == "assumed-role":
        return f"{row.role_id}:{row.session_name}"
    return names.get(row.principal_uin, "root")


def _event(ctx: Context, row: AuditEvent, names: dict[str, str]) -> dict[str, Any]:
    username = _username(row, names)
    identity_type = {"root": "Root", "sub-user": "CAMUser", "assumed-role": "AssumedRole"}[row.principal_kind]
    stamp = int(as_utc(row.event_time).timestamp())
    detail = {"eventVersion": 2, "userIdentity": {"type": identity_type, "principalId": row.principal_uin,
                                                   "accountId": ctx.account.uin, "userName": username},
              "eventTime": stamp, "sourceIPAddress": row.source_ip, "eventRegion": row.region,
              "eventSource": f"{row.service}.tencentcloudapi.com", "eventName": row.action,
              "requestID": row.request_id, "errorCode": 0 if not row.error_code else -1,
              "errorMessage": row.error_code, "resourceType": row.resource_type,
              "resourceName": ",".join(row.resource_names)}
    return {"EventId": f"{row.request_id}/{row.seq}", "Username": username, "EventTime": str(stamp),
            "CloudAuditEvent": json.dumps(detail), "ResourceTypeCn": row.resource_type,
            "ErrorCode": 0 if not row.error_code else -1, "EventName": row.action, "SecretId": "",
            "EventSource": f"{row.service}.tencentcloudapi.com", "RequestID": row.request_id,
            "ResourceRegion": row.region, "AccountID": int(ctx.account.uin), "SourceIPAddress": row.source_ip,
            "EventNameCn": row.action,
            "Resources": {"ResourceType": row.resource_type, "ResourceName": ",".join(row.resource_names)},
            "EventRegion": row.region, "Location": ""}


@CLOUDAUDIT.action("LookUpEvents", m.LookUpEvents)
async def look_up_events(ctx: Context, req: m.LookUpEvents) -> dict[str, Any]:
    start, end = _when(req.StartTime, "StartTime"), _when(req.EndTime, "EndTime")
    limit = req.MaxResults or 10
    if not 1 <= limit <= MAX_RESULTS:
        raise ApiError("InvalidParameterValue", f"`MaxResults` must be 1-{MAX_RESULTS}.")
    query = sa.select(audit_events).where(audit_events.c.account_id == ctx.account.id,
                                          audit_events.c.event_time >= start, audit_events.c.event_time <= end)
    wanted_resource = None
    for attribute in req.LookupAttributes or []:
        value = attribute.AttributeValue or ""
        if attribute.AttributeKey == "ResourceName":
            wanted_resource = value
        elif attribute.AttributeKey == "Username":
            query = query.where(audit_events.c.principal_uin.in_(
                sa.select(cam_users.c.uin).where(cam_users.c.account_id == ctx.account.id, cam_users.c.name == value))
                if value != "root" else audit_events.c.principal_kind == "root")
        elif attribute.AttributeKey in ATTRIBUTES:
            query = query.where(ATTRIBUTES[attribute.AttributeKey] == value)
        else:
            raise ApiError("InvalidParameterValue.AttributeKey",
                           f"`{attribute.AttributeKey}` is not a lookup attribute; use one of "
                           f"{sorted([*ATTRIBUTES, 'ResourceName', 'Username'])}.")
    if req.NextToken:
        if not req.NextToken.isdigit():
            raise ApiError("InvalidParameterValue", "`NextToken` is not one LookUpEvents gave.")
        query = query.where(audit_events.c.seq < int(req.NextToken))
    trail.flush(ctx.cloud.store)
    with ctx.cloud.store.read() as conn:
        rows = fetch(conn, AuditEvent, query.order_by(audit_events.c.seq.desc()))
        names = dict(conn.execute(sa.select(cam_users.c.uin, cam_users.c.name)
                                  .where(cam_users.c.account_id == ctx.account.id)).all())
    if wanted_resource is not None:
        rows = [r for r in rows if wanted_resource in r.resource_names]
    page = rows[:limit]
    more = len(rows) > limit
    return {"Events": [_event(ctx, r, names) for r in page], "ListOver": not more,
            "NextToken": str(page[-1].seq) if more else "", "TotalCount": len(rows)}
