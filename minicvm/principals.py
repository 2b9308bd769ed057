"""Who is calling: the principal behind a key. Today every key is an account's root key; CAM sub-users and
roles assumed through STS become further kinds here, each knowing how STS describes it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from minicvm.accounts import Account


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

    @classmethod
    def root(cls, account: Account) -> Principal:
        return cls(PrincipalKind.ROOT, account.uin, account.uin)

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
