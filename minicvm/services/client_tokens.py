"""ClientToken idempotency for the create actions: the first answer is kept per account, action and token,
and a repeated request gets it back instead of creating again. Backends call these inside the write
transaction that creates, so the answer is kept exactly when the resources are."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm.store.tables import client_tokens
from minicvm.timefmt import now


def remembered(conn: sa.Connection, account_id: int, action: str, token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    row = conn.execute(sa.select(client_tokens.c.response).where(
        client_tokens.c.account_id == account_id, client_tokens.c.action == action, client_tokens.c.token == token
    )).first()
    return dict(row.response) if row else None


def remember(conn: sa.Connection, account_id: int, action: str, token: str | None, response: dict[str, Any]) -> None:
    if token:
        conn.execute(client_tokens.insert().values(account_id=account_id, action=action, token=token,
                                                   response=response, created_time=now()))
