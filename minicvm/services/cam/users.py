"""Sub-users and API keys. A key made here signs requests at once; a disabled or deleted key is refused at
the next request (the API layer reads CAM keys on every request)."""

from __future__ import annotations

import re
from typing import Any

from minicvm.errors import ApiError
from minicvm.principals import PrincipalKind
from minicvm.services.cam import models as m
from minicvm.services.cam import views
from minicvm.services.cam.backend import CamBackend
from minicvm.services.cam.service import CAM
from minicvm.services.context import Context

USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
KEY_DESCRIPTION = re.compile(r"^[\w+=,.@:/ -]{0,1024}$")
KEY_STATUSES = {"Active": True, "Inactive": False}


@CAM.action("AddUser", m.AddUser)
async def add_user(ctx: Context, req: m.AddUser) -> dict[str, Any]:
    if not USER_NAME.match(req.Name):
        raise ApiError("InvalidParameter.UserNameIllegal",
                       "`Name` must be 1-64 letters, digits or the characters +=,.@_-.")
    if req.ConsoleLogin not in (None, 0, 1) or req.UseApi not in (None, 0, 1):
        raise ApiError("InvalidParameter.ParamError", "`ConsoleLogin` and `UseApi` must be 0 or 1.")
    backend = CamBackend(ctx)
    row = backend.add_user(req.Name, req.Remark or "", req.ConsoleLogin or 0, req.Email or "")
    secret_id = secret_key = ""
    if req.UseApi == 1:
        key = backend.create_key(row.uin, "")
        secret_id, secret_key = key.secret_id, key.secret_key
    return {"Uin": int(row.uin), "Name": row.name, "Password": "", "SecretId": secret_id, "SecretKey": secret_key,
            "Uid": row.uid}


@CAM.action("GetUser", m.UserName)
async def get_user(ctx: Context, req: m.UserName) -> dict[str, Any]:
    row = CamBackend(ctx).user(req.Name)
    return {**views.user(row), "RecentlyLoginIP": "", "RecentlyLoginTime": ""}


@CAM.action("ListUsers", m.ListUsers)
async def list_users(ctx: Context, req: m.ListUsers) -> dict[str, Any]:
    return {"Data": [{**views.user(r), "CreateTime": views.cam_time(r.created_time), "NickName": r.name}
                     for r in CamBackend(ctx).users()]}


@CAM.action("DeleteUser", m.DeleteUser)
async def delete_user(ctx: Context, req: m.DeleteUser) -> dict[str, Any]:
    if req.Force not in (None, 0, 1):
        raise ApiError("InvalidParameter.ParamError", "`Force` must be 0 or 1.")
    CamBackend(ctx).delete_user(req.Name, bool(req.Force))
    return {}


def target_uin(ctx: Context, backend: CamBackend, target: int | None) -> str:
    """Whose keys: the caller's own when no TargetUin is given; a sub-user may not touch the root's."""
    caller = ctx.caller
    if target is None:
        return caller.uin
    uin = str(target)
    if uin == ctx.account.uin:
        if caller.kind is not PrincipalKind.ROOT:
            raise ApiError("OperationDenied.SubUin", "A sub-user may not operate the root account's API keys.")
        return uin
    if backend.user_by_uin(uin) is None:
        raise ApiError("InvalidParameter.UserNotExist", f"The user {uin} does not exist in this account.")
    return uin


@CAM.action("CreateAccessKey", m.CreateAccessKey)
async def create_access_key(ctx: Context, req: m.CreateAccessKey) -> dict[str, Any]:
    if req.Description is not None and not KEY_DESCRIPTION.match(req.Description):
        raise ApiError("InvalidParameter.ParamError", "`Description` must be at most 1024 characters of [\\w+=,.@:/-].")
    backend = CamBackend(ctx)
    row = backend.create_key(target_uin(ctx, backend, req.TargetUin), req.Description or "")
    return {"AccessKey": {**views.access_key(row), "SecretAccessKey": row.secret_key}}


@CAM.action("ListAccessKeys", m.ListAccessKeys)
async def list_access_keys(ctx: Context, req: m.ListAccessKeys) -> dict[str, Any]:
    backend = CamBackend(ctx)
    return {"AccessKeys": [views.access_key(r) for r in backend.keys(target_uin(ctx, backend, req.TargetUin))]}


@CAM.action("UpdateAccessKey", m.UpdateAccessKey)
async def update_access_key(ctx: Context, req: m.UpdateAccessKey) -> dict[str, Any]:
    if req.Status not in KEY_STATUSES:
        raise ApiError("InvalidParameter.ParamError", "`Status` must be Active or Inactive.")
    backend = CamBackend(ctx)
    backend.set_key_active(req.AccessKeyId, target_uin(ctx, backend, req.TargetUin), KEY_STATUSES[req.Status])
    return {}


@CAM.action("DeleteAccessKey", m.DeleteAccessKey)
async def delete_access_key(ctx: Context, req: m.DeleteAccessKey) -> dict[str, Any]:
    backend = CamBackend(ctx)
    backend.delete_key(req.AccessKeyId, target_uin(ctx, backend, req.TargetUin))
    return {}
