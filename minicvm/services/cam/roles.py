"""Roles: a trust policy saying who may assume the role (STS AssumeRole checks it) and attached policies
saying what a session of the role may do."""

from __future__ import annotations

import re
from typing import Any

from minicvm.domain import presets
from minicvm.errors import ApiError
from minicvm.services.authorization import compile_trust
from minicvm.services.cam import models as m
from minicvm.services.cam.backend import CamBackend
from minicvm.services.cam.service import CAM
from minicvm.services.cam.views import cam_time
from minicvm.services.context import Context
from minicvm.store.rows import CamRole

ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
MAX_SESSION_SECONDS = 43200


def role_arn(owner_uin: str, name: str) -> str:
    return f"qcs::cam::uin/{owner_uin}:roleName/{name}"


def _role(backend: CamBackend, role_id: str | None, name: str | None) -> CamRole:
    if role_id is None and name is None:
        raise ApiError("InvalidParameter.ParamError", "Give the role's id or its name.")
    found = backend.role(role_id, name)
    if found is None:
        raise ApiError("InvalidParameter.RoleNotExist", f"The role {role_id or name!r} does not exist.")
    return found


def _policy_id(backend: CamBackend, policy_id: int | None, name: str | None) -> int:
    if policy_id is not None:
        if policy_id in presets.BY_ID or backend.policy(policy_id) is not None:
            return policy_id
    elif name is not None:
        preset = presets.BY_NAME.get(name)
        if preset is not None:
            return preset.policy_id
        row = backend.policy_by_name(name)
        if row is not None:
            return row.policy_id
    else:
        raise ApiError("InvalidParameter.ParamError", "Give `PolicyId` or `PolicyName`.")
    raise ApiError("InvalidParameter.PolicyIdNotExist", f"The policy {policy_id or name!r} does not exist.")


def _info(ctx: Context, row: CamRole) -> dict[str, Any]:
    return {"RoleId": row.role_id, "RoleName": row.name, "PolicyDocument": row.trust_policy,
            "Description": row.description, "AddTime": cam_time(row.created_time),
            "UpdateTime": cam_time(row.created_time), "ConsoleLogin": 0, "RoleType": "user",
            "SessionDuration": row.session_duration, "DeletionTaskId": None, "Tags": [],
            "RoleArn": role_arn(ctx.account.uin, row.name)}


@CAM.action("CreateRole", m.CreateRole)
async def create_role(ctx: Context, req: m.CreateRole) -> dict[str, Any]:
    if not ROLE_NAME.match(req.RoleName):
        raise ApiError("InvalidParameter.RoleNameError",
                       "`RoleName` must be 1-128 letters, digits or the characters +=,.@_-.")
    duration = req.SessionDuration or 0
    if not 0 <= duration <= MAX_SESSION_SECONDS:
        raise ApiError("InvalidParameter.ParamError", f"`SessionDuration` must be 0-{MAX_SESSION_SECONDS}.")
    compile_trust(req.PolicyDocument)
    row = CamBackend(ctx).create_role(req.RoleName, req.PolicyDocument, req.Description or "", duration)
    return {"RoleId": row.role_id}


@CAM.action("GetRole", m.RoleRef)
async def get_role(ctx: Context, req: m.RoleRef) -> dict[str, Any]:
    return {"RoleInfo": _info(ctx, _role(CamBackend(ctx), req.RoleId, req.RoleName))}


@CAM.action("DeleteRole", m.RoleRef)
async def delete_role(ctx: Context, req: m.RoleRef) -> dict[str, Any]:
    backend = CamBackend(ctx)
    backend.delete_role(_role(backend, req.RoleId, req.RoleName))
    return {}


@CAM.action("AttachRolePolicy", m.AttachRolePolicy)
async def attach_role_policy(ctx: Context, req: m.AttachRolePolicy) -> dict[str, Any]:
    backend = CamBackend(ctx)
    role = _role(backend, req.AttachRoleId, req.AttachRoleName)
    backend.attach_role(role.role_id, _policy_id(backend, req.PolicyId, req.PolicyName))
    return {}


@CAM.action("DetachRolePolicy", m.DetachRolePolicy)
async def detach_role_policy(ctx: Context, req: m.DetachRolePolicy) -> dict[str, Any]:
    backend = CamBackend(ctx)
    role = _role(backend, req.DetachRoleId, req.DetachRoleName)
    backend.detach_role(role.role_id, _policy_id(backend, req.PolicyId, req.PolicyName))
    return {}


@CAM.action("ListAttachedRolePolicies", m.ListAttachedRolePolicies)
async def list_attached_role_policies(ctx: Context, req: m.ListAttachedRolePolicies) -> dict[str, Any]:
    if not 1 <= req.Rp <= 200 or req.Page < 1:
        raise ApiError("InvalidParameter.ParamError", "`Rp` must be 1-200 and `Page` at least 1.")
    backend = CamBackend(ctx)
    role = _role(backend, req.RoleId, req.RoleName)
    found = []
    for policy_id, attached in backend.role_attached(role.role_id):
        preset = presets.BY_ID.get(policy_id)
        row = None if preset is not None else backend.policy(policy_id)
        name = preset.name if preset is not None else row.name if row is not None else ""
        kind = "QCS" if preset is not None else "User"
        if req.PolicyType and req.PolicyType != kind or req.Keyword and req.Keyword.lower() not in name.lower():
            continue
        found.append({"PolicyId": policy_id, "PolicyName": name, "AddTime": cam_time(attached),  # type: ignore[arg-type]
                      "PolicyType": kind, "CreateMode": 2, "Deactived": 0, "DeactivedDetail": [],
                      "Description": preset.description if preset else row.description if row else ""})
    return {"TotalNum": len(found), "List": found[(req.Page - 1) * req.Rp: req.Page * req.Rp]}
