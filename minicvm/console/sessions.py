"""Console sign-in: server-side sessions in the store, an HttpOnly SameSite=Strict cookie, and a CSRF
token per session that every state-changing request must echo in a header."""

from __future__ import annotations

import functools
import hmac
import secrets
from datetime import timedelta

import sqlalchemy as sa

from minicvm.accounts import Account, by_name, by_secret_id
from minicvm.domain.passwords import check_password, hash_password
from minicvm.store.db import Store
from minicvm.store.tables import accounts, console_sessions
from minicvm.timefmt import as_utc, now

COOKIE = "minicvm_session"
LOGIN_CSRF_COOKIE = "minicvm_login_csrf"
LIFETIME = timedelta(hours=12)


def new_token() -> str:
    return secrets.token_urlsafe(32)


MAX_FIELD = 256


def plausible(*values: str) -> bool:
    """Form fields and cookies that could name something in the store: short and without NUL
    (which PostgreSQL text cannot hold); anything else fails sign-in without a query."""
    return all(len(v) <= MAX_FIELD and "\x00" not in v for v in values)


def authenticate(store: Store, secret_id: str, secret_key: str, account_name: str, password: str) -> Account | None:
    """By SecretId/SecretKey, or by account name and the console password set with the CLI."""
    if not plausible(secret_id, secret_key, account_name, password):
        return None
    if secret_id:
        account = by_secret_id(store, secret_id.strip())
        if account and same_secret(account.secret_key, secret_key.strip()):
            return account
        return None
    if account_name and password:
        account = by_name(store, account_name.strip())
        stored = None
        if account is not None:
            with store.read() as conn:
                stored = conn.execute(sa.select(accounts.c.console_password_hash)
                                      .where(accounts.c.id == account.id)).scalar()
        # An unknown name (or one without a password) costs the same hash as a known one, so the answer's
        # timing does not tell which account names exist.
        matches = check_password(password, stored or _dummy_hash())
        return account if account is not None and stored and matches else None
    return None


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def create(store: Store, account: Account) -> tuple[str, str]:
    token, csrf = new_token(), new_token()
    ts = now()
    with store.write() as conn:
        conn.execute(console_sessions.delete().where(console_sessions.c.expires_time < ts))
        conn.execute(console_sessions.insert().values(id=token, account_id=account.id, csrf_token=csrf,
                                                      created_time=ts, expires_time=ts + LIFETIME))
    return token, csrf


def lookup(store: Store, token: str | None) -> tuple[int, str] | None:
    """(account id, csrf token) of a live session."""
    if not token or not plausible(token):
        return None
    with store.read() as conn:
        row = conn.execute(sa.select(console_sessions).where(console_sessions.c.id == token)).first()
    if row is None or as_utc(row.expires_time) < now():
        return None
    return row.account_id, row.csrf_token


def destroy(store: Store, token: str | None) -> None:
    if token:
        with store.write() as conn:
            conn.execute(console_sessions.delete().where(console_sessions.c.id == token))


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison of any text: compare_digest takes ASCII str only, so compare bytes."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and same_secret(expected, given or "")
