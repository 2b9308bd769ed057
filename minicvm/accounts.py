"""Accounts: each has its own AppId and SecretId/SecretKey; every resource belongs to exactly one."""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from minicvm.store.db import Store
from minicvm.store.tables import accounts, console_sessions
from minicvm.timefmt import now

DEFAULT_NAME = "default"


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    app_id: int
    uin: str
    secret_id: str
    secret_key: str


def _row(row: sa.Row) -> Account:
    return Account(row.id, row.name, row.app_id, row.uin, row.secret_id, row.secret_key)


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def create(store: Store, name: str, secret_id: str | None = None, secret_key: str | None = None) -> Account:
    with store.write() as conn:
        if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first():
            raise ValueError(f"an account named {name!r} already exists")
        top = conn.execute(sa.select(sa.func.max(accounts.c.app_id))).scalar() or 1250000000
        app_id = top + 1
        values = dict(
            name=name, app_id=app_id, uin=str(100000000000 + app_id % 1000000000),
            secret_id=secret_id or "AKID" + _random(string.ascii_letters + string.digits, 32),
            secret_key=secret_key or _random(string.ascii_letters + string.digits, 32),
            created_time=now(),
        )
        conn.execute(accounts.insert().values(**values))
        return _row(conn.execute(sa.select(accounts).where(accounts.c.name == name)).one())


def by_secret_id(store: Store, secret_id: str) -> Account | None:
    with store.read() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.secret_id == secret_id)).first()
    return _row(row) if row else None


def by_id(store: Store, account_id: int) -> Account | None:
    with store.read() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
    return _row(row) if row else None


def set_console_password(store: Store, name: str, password_hash: str) -> bool:
    """A new password also signs the account out everywhere: whoever knew the old one keeps nothing."""
    with store.write() as conn:
        result = conn.execute(accounts.update().where(accounts.c.name == name).values(console_password_hash=password_hash))
        conn.execute(console_sessions.delete().where(console_sessions.c.account_id.in_(
            sa.select(accounts.c.id).where(accounts.c.name == name).scalar_subquery())))
    return result.rowcount == 1


def by_name(store: Store, name: str) -> Account | None:
    with store.read() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.name == name)).first()
    return _row(row) if row else None


def ensure_default(store: Store, data_dir: Path) -> Account:
    """The default account's keys: MINICVM_SECRET_ID/KEY if set, else generated once and kept in
    <data-dir>/credentials.json so that every restart prints the same ones."""
    secret_id = os.environ.get("MINICVM_SECRET_ID")
    secret_key = os.environ.get("MINICVM_SECRET_KEY")
    cred_file = data_dir / "credentials.json"
    if not (secret_id and secret_key) and cred_file.exists():
        saved = json.loads(cred_file.read_text())
        secret_id, secret_key = saved["SecretId"], saved["SecretKey"]
    current = by_name(store, DEFAULT_NAME)
    if current is None:
        current = create(store, DEFAULT_NAME, secret_id, secret_key)
    elif secret_id and secret_key and (current.secret_id, current.secret_key) != (secret_id, secret_key):
        with store.write() as conn:
            conn.execute(accounts.update().where(accounts.c.id == current.id)
                         .values(secret_id=secret_id, secret_key=secret_key))
        current = by_name(store, DEFAULT_NAME)
        assert current is not None
    if not os.environ.get("MINICVM_SECRET_ID"):
        cred_file.write_text(json.dumps({"SecretId": current.secret_id, "SecretKey": current.secret_key}))
        cred_file.chmod(0o600)
    return current
