"""Who is calling: the principal behind a key. An account's own key is its root; a CAM access key belongs to a
sub-user (or, made by the root for itself, to the root); roles assumed through STS become a further kind here.
Each knows how STS describes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa

from minicvm import accounts
from minicvm.accounts import Account
from minicvm.store.db import Store
from minicvm.store.tables import cam_access_keys, sts_credentials
from minicvm.timefmt import as_utc


class PrincipalKind(StrEnum):
    ROOT = "root"
    SUB_USER = "sub-user"
    ASSUMED_ROLE = "assumed-role"


class IdentityType(StrEnum):
    """STS GetCallerIdentity's `Type`: a root key reports itself as a CAM user, as a sub-user's key does."""

    CAM_USER = "CAMUser"
    CAM_ROLE = "CAMRole"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    owner_uin: str  # the root account every resource belongs to
    uin: str  # the caller's own UIN (the owner's for a root key; the requester's for a role)
    role_id: str = ""
    session_name: str = ""
    session_policy: str = ""  # a role session's inline policy, which narrows the role's own

    @classmethod
    def root(cls, account: Account) -> Principal:
        return cls(PrincipalKind.ROOT, account.uin, account.uin)

    @classmethod
    def sub_user(cls, account: Account, uin: str) -> Principal:
        return cls(PrincipalKind.SUB_USER, account.uin, uin)

    @property
    def identity_type(self) -> IdentityType:
        return IdentityType.CAM_ROLE if self.kind is PrincipalKind.ASSUMED_ROLE else IdentityType.CAM_USER

    @property
    def arn(self) -> str:
        if self.kind is PrincipalKind.ASSUMED_ROLE:
            return f"qcs::sts:{self.owner_uin}:assumed-role/{self.role_id}"
        return f"qcs::cam::uin/{self.owner_uin}:uin/{self.uin}"

    @property
    def user_id(self) -> str:
        if self.kind is PrincipalKind.ASSUMED_ROLE:
            return f"{self.role_id}:{self.session_name}"
        return self.uin


@dataclass(frozen=True)
class KeyHolder:
    """Whose a CAM access key is, and whether it may still be used."""

    account: Account
    principal: Principal
    secret_key: str
    active: bool


def by_access_key(store: Store, secret_id: str) -> KeyHolder | None:
    with store.read() as conn:
        row = conn.execute(sa.select(cam_access_keys).where(cam_access_keys.c.secret_id == secret_id)).first()
    if row is None:
        return None
    account = accounts.by_id(store, row.account_id)
    if account is None:
        return None
    principal = Principal.root(account) if row.user_uin == account.uin else Principal.sub_user(account, row.user_uin)
    return KeyHolder(account, principal, row.secret_key, row.active)


@dataclass(frozen=True)
class TemporaryKey:
    """A credential STS AssumeRole issued: usable with its token until it expires."""

    account: Account
    principal: Principal
    secret_key: str
    token: str
    expires: datetime


def by_temporary_key(store: Store, secret_id: str) -> TemporaryKey | None:
    with store.read() as conn:
        row = conn.execute(sa.select(sts_credentials).where(sts_credentials.c.secret_id == secret_id)).first()
    if row is None:
        return None
    account = accounts.by_id(store, row.account_id)
    if account is None:
        return None
    principal = Principal(PrincipalKind.ASSUMED_ROLE, account.uin, row.caller_uin, row.role_id, row.session_name,
                          row.session_policy)
    return TemporaryKey(account, principal, row.secret_key, row.token, as_utc(row.expires_time))
