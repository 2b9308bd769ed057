"""CAM state: an account's sub-users, their access keys, its custom policies and which user has which policy
attached. Every query is scoped by the account, so one account never sees another's."""

from __future__ import annotations

import secrets
import string
from datetime import datetime

import sqlalchemy as sa

from minicvm.errors import ApiError
from minicvm.services.context import Context
from minicvm.store.rows import CamAccessKey, CamGroup, CamPolicy, CamRole, CamUser, fetch, fetch_first
from minicvm.store.tables import (
    cam_access_keys,
    cam_group_members,
    cam_group_policies,
    cam_groups,
    cam_policies,
    cam_role_policies,
    cam_roles,
    cam_user_policies,
    cam_users,
    sts_credentials,
)
from minicvm.timefmt import now

MAX_KEYS = 2  # per user (and per root account), as Tencent allows
FIRST_SUB_UIN = 100030000000
FIRST_UID = 10000000
FIRST_POLICY_ID = 200000000
FIRST_GROUP_ID = 100000
FIRST_ROLE_ID = 4611686018427397900  # role ids are 19-digit numbers
_ALNUM = string.ascii_letters + string.digits


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def user_not_found(what: str) -> ApiError:
    return ApiError("ResourceNotFound.UserNotExist", f"The sub-user {what} does not exist.")


class CamBackend:
    def __init__(self, ctx: Context) -> None:
        self.store = ctx.cloud.store
        self.account = ctx.account

    # ---- users ----

    def add_user(self, name: str, remark: str, console_login: int, email: str) -> CamUser:
        with self.store.write() as conn:
            if conn.execute(sa.select(cam_users.c.seq).where(cam_users.c.account_id == self.account.id,
                                                             cam_users.c.name == name)).first():
                raise ApiError("InvalidParameter.SubUserNameInUse", f"A sub-user named {name!r} already exists.")
            top = conn.execute(sa.select(sa.func.max(cam_users.c.uid))).scalar() or FIRST_UID
            uid = top + 1
            conn.execute(cam_users.insert().values(
                account_id=self.account.id, uin=str(FIRST_SUB_UIN + uid - FIRST_UID), uid=uid, name=name,
                remark=remark, console_login=console_login, email=email, created_time=now()))
            found = fetch_first(conn, CamUser, sa.select(cam_users).where(cam_users.c.uid == uid))
        assert found is not None
        return found

    def user(self, name: str) -> CamUser:
        with self.store.read() as conn:
            found = fetch_first(conn, CamUser, sa.select(cam_users).where(
                cam_users.c.account_id == self.account.id, cam_users.c.name == name))
        if found is None:
            raise user_not_found(repr(name))
        return found

    def user_by_uin(self, uin: str) -> CamUser | None:
        with self.store.read() as conn:
            return fetch_first(conn, CamUser, sa.select(cam_users).where(
                cam_users.c.account_id == self.account.id, cam_users.c.uin == uin))

    def users(self) -> list[CamUser]:
        with self.store.read() as conn:
            return fetch(conn, CamUser, sa.select(cam_users).where(cam_users.c.account_id == self.account.id)
                         .order_by(cam_users.c.seq))

    def delete_user(self, name: str, force: bool) -> None:
        user = self.user(name)
        with self.store.write() as conn:
            keys = conn.execute(sa.select(cam_access_keys.c.secret_id)
                                .where(cam_access_keys.c.user_uin == user.uin)).all()
            if keys and not force:
                raise ApiError("OperationDenied.HaveKeys",
                               f"The sub-user {name!r} still has API keys; delete them first or pass Force=1.")
            conn.execute(cam_access_keys.delete().where(cam_access_keys.c.user_uin == user.uin))
            conn.execute(cam_user_policies.delete().where(cam_user_policies.c.user_uin == user.uin))
            conn.execute(cam_group_members.delete().where(cam_group_members.c.user_uin == user.uin))
            conn.execute(cam_users.delete().where(cam_users.c.seq == user.seq))

    # ---- access keys ----

    def create_key(self, uin: str, description: str) -> CamAccessKey:
        with self.store.write() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(cam_access_keys)
                                 .where(cam_access_keys.c.user_uin == uin)).scalar() or 0
            if count >= MAX_KEYS:
                raise ApiError("OperationDenied.AccessKeyOverLimit", f"A user can have at most {MAX_KEYS} API keys.")
            secret_id = "AKID" + _random(32)
            conn.execute(cam_access_keys.insert().values(
                secret_id=secret_id, secret_key=_random(32), account_id=self.account.id, user_uin=uin, active=True,
                description=description, created_time=now()))
            found = fetch_first(conn, CamAccessKey,
                                sa.select(cam_access_keys).where(cam_access_keys.c.secret_id == secret_id))
        assert found is not None
        return found

    def keys(self, uin: str) -> list[CamAccessKey]:
        with self.store.read() as conn:
            return fetch(conn, CamAccessKey, sa.select(cam_access_keys).where(
                cam_access_keys.c.account_id == self.account.id, cam_access_keys.c.user_uin == uin)
                .order_by(cam_access_keys.c.created_time))

    def _key_where(self, secret_id: str, uin: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (cam_access_keys.c.secret_id == secret_id, cam_access_keys.c.account_id == self.account.id,
                cam_access_keys.c.user_uin == uin)

    def set_key_active(self, secret_id: str, uin: str, active: bool) -> None:
        with self.store.write() as conn:
            done = conn.execute(cam_access_keys.update().where(*self._key_where(secret_id, uin)).values(active=active))
        if done.rowcount != 1:
            raise ApiError("ResourceNotFound.SecretNotExist", f"The API key {secret_id} does not exist for {uin}.")

    def delete_key(self, secret_id: str, uin: str) -> None:
        with self.store.write() as conn:
            done = conn.execute(cam_access_keys.delete().where(*self._key_where(secret_id, uin)))
        if done.rowcount != 1:
            raise ApiError("ResourceNotFound.SecretNotExist", f"The API key {secret_id} does not exist for {uin}.")

    # ---- policies ----

    def create_policy(self, name: str, document: str, description: str) -> int:
        with self.store.write() as conn:
            if conn.execute(sa.select(cam_policies.c.policy_id).where(cam_policies.c.account_id == self.account.id,
                                                                      cam_policies.c.name == name)).first():
                raise ApiError("FailedOperation.PolicyNameInUse", f"A policy named {name!r} already exists.")
            top = conn.execute(sa.select(sa.func.max(cam_policies.c.policy_id))).scalar() or FIRST_POLICY_ID
            policy_id = top + 1
            stamp = now()
            conn.execute(cam_policies.insert().values(
                policy_id=policy_id, account_id=self.account.id, name=name, description=description,
                document=document, version=1, created_time=stamp, updated_time=stamp))
        return policy_id

    def policy(self, policy_id: int) -> CamPolicy | None:
        with self.store.read() as conn:
            return fetch_first(conn, CamPolicy, sa.select(cam_policies).where(
                cam_policies.c.account_id == self.account.id, cam_policies.c.policy_id == policy_id))

    def policy_by_name(self, name: str) -> CamPolicy | None:
        with self.store.read() as conn:
            return fetch_first(conn, CamPolicy, sa.select(cam_policies).where(
                cam_policies.c.account_id == self.account.id, cam_policies.c.name == name))

    def policies(self) -> list[CamPolicy]:
        with self.store.read() as conn:
            return fetch(conn, CamPolicy, sa.select(cam_policies).where(cam_policies.c.account_id == self.account.id)
                         .order_by(cam_policies.c.policy_id))

    def update_policy(self, policy: CamPolicy, document: str | None, description: str | None) -> None:
        values: dict[str, object] = {"updated_time": now()}
        if document is not None:
            values.update(document=document, version=policy.version + 1)
        if description is not None:
            values["description"] = description
        with self.store.write() as conn:
            conn.execute(cam_policies.update().where(cam_policies.c.policy_id == policy.policy_id).values(**values))

    def delete_policies(self, policy_ids: list[int]) -> None:
        with self.store.write() as conn:
            conn.execute(cam_user_policies.delete().where(cam_user_policies.c.account_id == self.account.id,
                                                          cam_user_policies.c.policy_id.in_(policy_ids)))
            conn.execute(cam_role_policies.delete().where(cam_role_policies.c.account_id == self.account.id,
                                                          cam_role_policies.c.policy_id.in_(policy_ids)))
            conn.execute(cam_group_policies.delete().where(cam_group_policies.c.account_id == self.account.id,
                                                           cam_group_policies.c.policy_id.in_(policy_ids)))
            conn.execute(cam_policies.delete().where(cam_policies.c.account_id == self.account.id,
                                                     cam_policies.c.policy_id.in_(policy_ids)))

    def attachment_counts(self) -> dict[int, int]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(cam_user_policies.c.policy_id, sa.func.count())
                                .where(cam_user_policies.c.account_id == self.account.id)
                                .group_by(cam_user_policies.c.policy_id)).all()
        return {policy_id: count for policy_id, count in rows}

    # ---- attachments ----

    def attach(self, uin: str, policy_id: int) -> None:
        with self.store.write() as conn:
            exists = conn.execute(sa.select(cam_user_policies.c.policy_id).where(
                cam_user_policies.c.user_uin == uin, cam_user_policies.c.policy_id == policy_id)).first()
            if exists is None:
                conn.execute(cam_user_policies.insert().values(user_uin=uin, policy_id=policy_id,
                                                               account_id=self.account.id, attached_time=now()))

    def detach(self, uin: str, policy_id: int) -> bool:
        with self.store.write() as conn:
            done = conn.execute(cam_user_policies.delete().where(
                cam_user_policies.c.user_uin == uin, cam_user_policies.c.policy_id == policy_id,
                cam_user_policies.c.account_id == self.account.id))
        return done.rowcount == 1

    def attached(self, uin: str) -> list[tuple[int, object]]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(cam_user_policies.c.policy_id, cam_user_policies.c.attached_time).where(
                cam_user_policies.c.user_uin == uin, cam_user_policies.c.account_id == self.account.id)
                .order_by(cam_user_policies.c.attached_time)).all()
        return [(r.policy_id, r.attached_time) for r in rows]

    # ---- roles ----

    def create_role(self, name: str, trust_policy: str, description: str, session_duration: int) -> CamRole:
        with self.store.write() as conn:
            if conn.execute(sa.select(cam_roles.c.role_id).where(cam_roles.c.account_id == self.account.id,
                                                                 cam_roles.c.name == name)).first():
                raise ApiError("InvalidParameter.RoleNameInUse", f"A role named {name!r} already exists.")
            count = conn.execute(sa.select(sa.func.count()).select_from(cam_roles)).scalar() or 0
            role_id = str(FIRST_ROLE_ID + count + 1)
            while conn.execute(sa.select(cam_roles.c.role_id).where(cam_roles.c.role_id == role_id)).first():
                role_id = str(int(role_id) + 1)
            conn.execute(cam_roles.insert().values(
                role_id=role_id, account_id=self.account.id, name=name, trust_policy=trust_policy,
                description=description, session_duration=session_duration, created_time=now()))
            found = fetch_first(conn, CamRole, sa.select(cam_roles).where(cam_roles.c.role_id == role_id))
        assert found is not None
        return found

    def role(self, role_id: str | None, name: str | None) -> CamRole | None:
        where = cam_roles.c.role_id == role_id if role_id is not None else cam_roles.c.name == name
        with self.store.read() as conn:
            return fetch_first(conn, CamRole, sa.select(cam_roles).where(cam_roles.c.account_id == self.account.id,
                                                                         where))

    def delete_role(self, role: CamRole) -> None:
        with self.store.write() as conn:
            conn.execute(sts_credentials.delete().where(sts_credentials.c.role_id == role.role_id))
            conn.execute(cam_role_policies.delete().where(cam_role_policies.c.role_id == role.role_id))
            conn.execute(cam_roles.delete().where(cam_roles.c.role_id == role.role_id))

    def attach_role(self, role_id: str, policy_id: int) -> None:
        with self.store.write() as conn:
            exists = conn.execute(sa.select(cam_role_policies.c.policy_id).where(
                cam_role_policies.c.role_id == role_id, cam_role_policies.c.policy_id == policy_id)).first()
            if exists is None:
                conn.execute(cam_role_policies.insert().values(role_id=role_id, policy_id=policy_id,
                                                               account_id=self.account.id, attached_time=now()))

    def detach_role(self, role_id: str, policy_id: int) -> None:
        with self.store.write() as conn:
            conn.execute(cam_role_policies.delete().where(cam_role_policies.c.role_id == role_id,
                                                          cam_role_policies.c.policy_id == policy_id))

    def role_attached(self, role_id: str) -> list[tuple[int, object]]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(cam_role_policies.c.policy_id, cam_role_policies.c.attached_time).where(
                cam_role_policies.c.role_id == role_id).order_by(cam_role_policies.c.attached_time)).all()
        return [(r.policy_id, r.attached_time) for r in rows]

    def issue_credential(self, role: CamRole, session_name: str, caller_uin: str, session_policy: str,
                         expires: datetime) -> tuple[str, str, str]:
        secret_id, secret_key, token = "AKID" + _random(32), _random(32), _random(96)
        with self.store.write() as conn:
            conn.execute(sts_credentials.insert().values(
                secret_id=secret_id, secret_key=secret_key, token=token, account_id=self.account.id,
                role_id=role.role_id, session_name=session_name, caller_uin=caller_uin,
                session_policy=session_policy, expires_time=expires))
        return secret_id, secret_key, token

    # ---- groups ----

    def create_group(self, name: str, remark: str) -> int:
        with self.store.write() as conn:
            if conn.execute(sa.select(cam_groups.c.group_id).where(cam_groups.c.account_id == self.account.id,
                                                                   cam_groups.c.name == name)).first():
                raise ApiError("InvalidParameter.GroupNameInUse", f"A group named {name!r} already exists.")
            group_id = (conn.execute(sa.select(sa.func.max(cam_groups.c.group_id))).scalar() or FIRST_GROUP_ID) + 1
            conn.execute(cam_groups.insert().values(group_id=group_id, account_id=self.account.id, name=name,
                                                    remark=remark, created_time=now()))
        return group_id

    def group(self, group_id: int) -> CamGroup:
        with self.store.read() as conn:
            found = fetch_first(conn, CamGroup, sa.select(cam_groups).where(
                cam_groups.c.account_id == self.account.id, cam_groups.c.group_id == group_id))
        if found is None:
            raise ApiError("ResourceNotFound.GroupNotExist", f"The user group {group_id} does not exist.")
        return found

    def groups(self) -> list[CamGroup]:
        with self.store.read() as conn:
            return fetch(conn, CamGroup, sa.select(cam_groups).where(cam_groups.c.account_id == self.account.id)
                         .order_by(cam_groups.c.group_id))

    def delete_group(self, group_id: int) -> None:
        self.group(group_id)
        with self.store.write() as conn:
            conn.execute(cam_group_members.delete().where(cam_group_members.c.group_id == group_id))
            conn.execute(cam_group_policies.delete().where(cam_group_policies.c.group_id == group_id))
            conn.execute(cam_groups.delete().where(cam_groups.c.group_id == group_id))

    def members(self, group_id: int) -> list[CamUser]:
        with self.store.read() as conn:
            return fetch(conn, CamUser, sa.select(cam_users).join(
                cam_group_members, cam_group_members.c.user_uin == cam_users.c.uin)
                .where(cam_group_members.c.group_id == group_id).order_by(cam_users.c.seq))

    def set_members(self, pairs: list[tuple[int, str]], joined: bool) -> None:
        """Adds (or removes) every (group, user) pair in one transaction: all or nothing."""
        with self.store.write() as conn:
            for group_id, uin in pairs:
                where = (cam_group_members.c.group_id == group_id, cam_group_members.c.user_uin == uin)
                present = conn.execute(sa.select(cam_group_members.c.group_id).where(*where)).first()
                if joined and present is None:
                    conn.execute(cam_group_members.insert().values(group_id=group_id, user_uin=uin,
                                                                   account_id=self.account.id, joined_time=now()))
                elif not joined and present is not None:
                    conn.execute(cam_group_members.delete().where(*where))

    def user_by_uid(self, uid: int) -> CamUser | None:
        with self.store.read() as conn:
            return fetch_first(conn, CamUser, sa.select(cam_users).where(
                cam_users.c.account_id == self.account.id, cam_users.c.uid == uid))

    def attach_group(self, group_id: int, policy_id: int) -> None:
        with self.store.write() as conn:
            exists = conn.execute(sa.select(cam_group_policies.c.policy_id).where(
                cam_group_policies.c.group_id == group_id, cam_group_policies.c.policy_id == policy_id)).first()
            if exists is None:
                conn.execute(cam_group_policies.insert().values(group_id=group_id, policy_id=policy_id,
                                                                account_id=self.account.id, attached_time=now()))

    def detach_group(self, group_id: int, policy_id: int) -> None:
        with self.store.write() as conn:
            conn.execute(cam_group_policies.delete().where(cam_group_policies.c.group_id == group_id,
                                                           cam_group_policies.c.policy_id == policy_id))

    def group_attached(self, group_id: int) -> list[tuple[int, object]]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(cam_group_policies.c.policy_id, cam_group_policies.c.attached_time).where(
                cam_group_policies.c.group_id == group_id).order_by(cam_group_policies.c.attached_time)).all()
        return [(r.policy_id, r.attached_time) for r in rows]
