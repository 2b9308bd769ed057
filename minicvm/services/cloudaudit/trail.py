"""Recording the audit trail: every state-changing action (whoever made it, whether it succeeded) and every
CAM denial. Events wait in a small buffer and are written in batches, so a StopInstances does not pay a write
of its own; LookUpEvents writes what is waiting before it reads. What a crash catches in the buffer (at most
FLUSH_EVERY events or FLUSH_SECONDS of them) is lost."""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any

from pydantic import BaseModel

from minicvm.accounts import Account
from minicvm.principals import Principal, PrincipalKind
from minicvm.services.permissions import DECLARATIONS, Kind
from minicvm.store.db import Store
from minicvm.store.tables import audit_events
from minicvm.timefmt import now

log = logging.getLogger(__name__)

READ_PREFIXES = ("Describe", "Get", "List", "Inquiry", "LookUp")
FLUSH_EVERY = 64
FLUSH_SECONDS = 1.0


class _Buffer:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.since = 0.0


_buffers: weakref.WeakKeyDictionary[Store, _Buffer] = weakref.WeakKeyDictionary()


def is_write(action: str) -> bool:
    return not action.startswith(READ_PREFIXES)


def _resources(service: str, action: str, request: BaseModel | None) -> tuple[str, list[str]]:
    declaration = DECLARATIONS.get((service, action))
    if declaration is None or request is None:
        return "", []
    for touch in declaration.touches:
        if touch.fields:
            names: list[str] = []
            for field in touch.fields:
                value: Any = request
                for part in field.split("."):
                    value = getattr(value, part, None) if not isinstance(value, list) else None
                names.extend(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v)
            kind = touch.kind.prefix if touch.kind is not Kind.NAMED else "resource"
            return kind, names
    return "", []


def record(store: Store, account: Account, principal: Principal | None, region: str, request_id: str,
           service: str, action: str, request: BaseModel | None, source_ip: str, error_code: str) -> None:
    kind, names = _resources(service, action, request)
    who = principal or Principal(PrincipalKind.ROOT, account.uin, account.uin)
    buffer = _buffers.get(store)
    if buffer is None:
        buffer = _buffers[store] = _Buffer()
    if not buffer.rows:
        buffer.since = time.monotonic()
    buffer.rows.append(dict(
        account_id=account.id, event_time=now(), service=service, action=action, region=region,
        principal_kind=who.kind.value, principal_uin=who.uin, role_id=who.role_id, session_name=who.session_name,
        source_ip=source_ip, resource_type=kind, resource_names=names, error_code=error_code, request_id=request_id))
    if len(buffer.rows) >= FLUSH_EVERY or time.monotonic() - buffer.since >= FLUSH_SECONDS:
        try:
            flush(store)
        except Exception:  # the request that happened to fill the buffer must not fail for it
            log.exception("could not write %d audit events", FLUSH_EVERY)


def flush(store: Store) -> None:
    buffer = _buffers.get(store)
    if buffer is None or not buffer.rows:
        return
    rows, buffer.rows = buffer.rows, []
    with store.write() as conn:
        conn.execute(audit_events.insert(), rows)
