"""Policies and what is attached to whom. A document is compiled before it is stored, so a malformed one is
refused with Tencent's code instead of being kept and silently ignored. Presets (Type 2) are the same for
every account and can be attached but not changed."""

from __future__ import annotations

import re
from typing import Any

from minicvm.domain import presets
from minicvm.errors import ApiError
from minicvm.services.authorization import compile_document
from minicvm.services.cam import models as m
from minicvm.services.cam.backend import CamBackend
from minicvm.services.cam.service import CAM
from minicvm.services.cam.views import cam_time
from minicvm.services.context import Context
from minicvm.store.rows import CamPolicy

POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
MAX_DESCRIPTION_BYTES = 300
CUSTOM, PRESET = 1, 2
SCOPES = {"All", "QCS", "Local"}


def _not_found(policy_id: int) -> ApiError:
    return ApiError("ResourceNotFound.PolicyIdNotFound", f"The policy {policy_id} does not exist.")


def _check_description(description: str | None) -> None:
    if description is not None and len(description.encode()) > MAX_DESCRIPTION_BYTES:
        raise ApiError("InvalidParameter.DescriptionLengthOverlimit",
                       f"`Description` must be at most {MAX_DESCRIPTION_BYTES} bytes.")


def _custom(row: CamPolicy, attachments: int = 0) -> dict[str, Any]:
    return {"PolicyId": row.policy_id, "PolicyName": row.name, "AddTime": cam_time(row.created_time),
            "Type": CUSTOM, "Description": row.description, "CreateMode": 2, "Attachments": attachments,
            "ServiceType": None, "IsAttached": None, "UpdateTime": cam_time(row.updated_time)}


def _preset(p: presets.Preset, attachments: int = 0) -> dict[str, Any]:
    return {"PolicyId": p.policy_id, "PolicyName": p.name, "AddTime": "2019-01-16 00:00:00", "Type": PRESET,
            "Description": p.description, "CreateMode": 2, "Attachments": attachments, "ServiceType": None,
            "IsAttached": None, "UpdateTime": "2019-01-16 00:00:00"}


@CAM.action("CreatePolicy", m.CreatePolicy)
async def create_policy(ctx: Context, req: m.CreatePolicy) -> dict[str, Any]:
    if not POLICY_NAME.match(req.PolicyName):
        raise ApiError("InvalidParameter.PolicyNameError",
                       "`PolicyName` must be 1-128 letters, digits or the characters +=,.@_-.")
    if req.PolicyName in presets.BY_NAME:
        raise ApiError("FailedOperation.PolicyNameInUse", f"{req.PolicyName!r} is the name of a preset policy.")
    _check_description(req.Description)
    compile_document(req.PolicyDocument, ctx.account.uin)
    return {"PolicyId": CamBackend(ctx).create_policy(req.PolicyName, req.PolicyDocument, req.Description or "")}


@CAM.action("GetPolicy", m.GetPolicy)
async def get_policy(ctx: Context, req: m.GetPolicy) -> dict[str, Any]:
    preset = presets.BY_ID.get(req.PolicyId)
    if preset is not None:
        return {"PolicyName": preset.name, "Description": preset.description, "Type": PRESET,
                "AddTime": "2019-01-16 00:00:00", "UpdateTime": "2019-01-16 00:00:00",
                "PolicyDocument": preset.document, "PresetAlias": preset.name, "IsServiceLinkedRolePolicy": 0,
                "Tags": []}
    row = CamBackend(ctx).policy(req.PolicyId)
    if row is None:
        raise _not_found(req.PolicyId)
    return {"PolicyName": row.name, "Description": row.description, "Type": CUSTOM,
            "AddTime": cam_time(row.created_time), "UpdateTime": cam_time(row.updated_time),
            "PolicyDocument": row.document, "PresetAlias": None, "IsServiceLinkedRolePolicy": 0, "Tags": []}


@CAM.action("ListPolicies", m.ListPolicies)
async def list_policies(ctx: Context, req: m.ListPolicies) -> dict[str, Any]:
    scope = req.Scope or "All"
    if scope not in SCOPES:
        raise ApiError("InvalidParameter.ScopeError", "`Scope` must be All, QCS or Local.")
    rp, page = req.Rp or 20, req.Page or 1
    if not 1 <= rp <= 200 or not 1 <= page <= 200:
        raise ApiError("InvalidParameter.ParamError", "`Rp` must be 1-200 and `Page` 1-200.")
    backend = CamBackend(ctx)
    counts = backend.attachment_counts()
    found: list[dict[str, Any]] = []
    if scope != "Local":
        found += [_preset(p, counts.get(p.policy_id, 0)) for p in presets.PRESETS]
    if scope != "QCS":
        found += [_custom(r, counts.get(r.policy_id, 0)) for r in backend.policies()]
    if req.Keyword:
        found = [p for p in found if req.Keyword.lower() in p["PolicyName"].lower()]
    return {"TotalNum": len(found), "List": found[(page - 1) * rp: page * rp], "ServiceTypeList": []}


@CAM.action("UpdatePolicy", m.UpdatePolicy)
async def update_policy(ctx: Context, req: m.UpdatePolicy) -> dict[str, Any]:
    backend = CamBackend(ctx)
    if req.PolicyId is not None:
        if req.PolicyId in presets.BY_ID:
            raise ApiError("FailedOperation.Unmodifiable", "A preset policy cannot be changed.")
        row = backend.policy(req.PolicyId)
        if row is None:
            raise ApiError("InvalidParameter.PolicyIdNotExist", f"The policy {req.PolicyId} does not exist.")
    elif req.PolicyName is not None:
        row = backend.policy_by_name(req.PolicyName)
        if row is None:
            raise ApiError("InvalidParameter.PolicyNameError", f"No policy is named {req.PolicyName!r}.")
    else:
        raise ApiError("InvalidParameter.ParamError", "Give `PolicyId` or `PolicyName`.")
    _check_description(req.Description)
    if req.PolicyDocument is not None:
        compile_document(req.PolicyDocument, ctx.account.uin)
    backend.update_policy(row, req.PolicyDocument, req.Description)
    return {"PolicyId": row.policy_id}


@CAM.action("DeletePolicy", m.DeletePolicy)
async def delete_policy(ctx: Context, req: m.DeletePolicy) -> dict[str, Any]:
    if not req.PolicyId:
        raise ApiError("InvalidParameter.PolicyIdError", "`PolicyId` must name at least one policy.")
    backend = CamBackend(ctx)
    for policy_id in req.PolicyId:
        if policy_id in presets.BY_ID:
            raise ApiError("FailedOperation.Unmodifiable", "A preset policy cannot be deleted.")
        if backend.policy(policy_id) is None:
            raise ApiError("InvalidParameter.PolicyIdNotExist", f"The policy {policy_id} does not exist.")
    backend.delete_policies(req.PolicyId)
    return {}


def _existing_policy(backend: CamBackend, policy_id: int) -> None:
    if policy_id not in presets.BY_ID and backend.policy(policy_id) is None:
        raise ApiError("InvalidParameter.PolicyIdNotExist", f"The policy {policy_id} does not exist.")


def _existing_user(backend: CamBackend, uin: int) -> str:
    if backend.user_by_uin(str(uin)) is None:
        raise ApiError("InvalidParameter.UserNotExist", f"The sub-user {uin} does not exist in this account.")
    return str(uin)


@CAM.action("AttachUserPolicy", m.AttachUserPolicy)
async def attach_user_policy(ctx: Context, req: m.AttachUserPolicy) -> dict[str, Any]:
    backend = CamBackend(ctx)
    uin = _existing_user(backend, req.AttachUin)
    _existing_policy(backend, req.PolicyId)
    backend.attach(uin, req.PolicyId)
    return {}


@CAM.action("DetachUserPolicy", m.DetachUserPolicy)
async def detach_user_policy(ctx: Context, req: m.DetachUserPolicy) -> dict[str, Any]:
    backend = CamBackend(ctx)
    uin = _existing_user(backend, req.DetachUin)
    _existing_policy(backend, req.PolicyId)
    backend.detach(uin, req.PolicyId)
    return {}


@CAM.action("ListAttachedUserPolicies", m.ListAttachedUserPolicies)
async def list_attached_user_policies(ctx: Context, req: m.ListAttachedUserPolicies) -> dict[str, Any]:
    backend = CamBackend(ctx)
    uin = _existing_user(backend, req.TargetUin)
    rp, page = req.Rp or 20, req.Page or 1
    if not 1 <= rp <= 200 or page < 1:
        raise ApiError("InvalidParameter.ParamError", "`Rp` must be 1-200 and `Page` at least 1.")
    found = []
    for policy_id, attached in backend.attached(uin):
        preset = presets.BY_ID.get(policy_id)
        row = None if preset is not None else backend.policy(policy_id)
        name = preset.name if preset is not None else row.name if row is not None else ""
        found.append({"PolicyId": policy_id, "PolicyName": name, "AddTime": cam_time(attached),  # type: ignore[arg-type]
                      "CreateMode": 2, "PolicyType": "QCS" if preset is not None else "User",
                      "Remark": (preset.description if preset else row.description if row else ""),
                      "OperateOwnerUin": ctx.account.uin, "OperateUin": ctx.caller.uin, "OperateUinType": 0})
    return {"TotalNum": len(found), "List": found[(page - 1) * rp: page * rp]}
