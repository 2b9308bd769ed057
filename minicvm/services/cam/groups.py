"""User groups: a member of a group is allowed what the group's policies allow, as well as its own."""

from __future__ import annotations

import re
from typing import Any

from minicvm.domain import presets
from minicvm.errors import ApiError
from minicvm.services.cam import models as m
from minicvm.services.cam import views
from minicvm.services.cam.backend import CamBackend
from minicvm.services.cam.service import CAM
from minicvm.services.cam.views import cam_time
from minicvm.services.context import Context

GROUP_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


def _page(page: int | None, rp: int | None) -> tuple[int, int]:
    page, rp = page or 1, rp or 20
    if page < 1 or not 1 <= rp <= 200:
        raise ApiError("InvalidParameter.ParamError", "`Rp` must be 1-200 and `Page` at least 1.")
    return page, rp


def _existing_policy(backend: CamBackend, policy_id: int) -> None:
    if policy_id not in presets.BY_ID and backend.policy(policy_id) is None:
        raise ApiError("InvalidParameter.PolicyIdNotExist", f"The policy {policy_id} does not exist.")


@CAM.action("CreateGroup", m.CreateGroup)
async def create_group(ctx: Context, req: m.CreateGroup) -> dict[str, Any]:
    if not GROUP_NAME.match(req.GroupName):
        raise ApiError("InvalidParameter.GroupNameError",
                       "`GroupName` must be 1-64 letters, digits or the characters +=,.@_-.")
    return {"GroupId": CamBackend(ctx).create_group(req.GroupName, req.Remark or "")}


@CAM.action("GetGroup", m.GroupRef)
async def get_group(ctx: Context, req: m.GroupRef) -> dict[str, Any]:
    backend = CamBackend(ctx)
    group = backend.group(req.GroupId)
    members = backend.members(group.group_id)
    return {"GroupId": group.group_id, "GroupName": group.name, "GroupNum": len(members), "Remark": group.remark,
            "CreateTime": cam_time(group.created_time),
            "UserInfo": [{**views.user(u), "PhoneFlag": 0, "EmailFlag": 0, "UserType": 0,
                          "CreateTime": cam_time(u.created_time), "IsReceiverOwner": 0} for u in members]}


@CAM.action("DeleteGroup", m.GroupRef)
async def delete_group(ctx: Context, req: m.GroupRef) -> dict[str, Any]:
    CamBackend(ctx).delete_group(req.GroupId)
    return {}


@CAM.action("ListGroups", m.ListGroups)
async def list_groups(ctx: Context, req: m.ListGroups) -> dict[str, Any]:
    page, rp = _page(req.Page, req.Rp)
    found = [g for g in CamBackend(ctx).groups() if not req.Keyword or req.Keyword.lower() in g.name.lower()]
    return {"TotalNum": len(found), "GroupInfo": [
        {"GroupId": g.group_id, "GroupName": g.name, "CreateTime": cam_time(g.created_time), "Remark": g.remark}
        for g in found[(page - 1) * rp: page * rp]]}


def _pairs(backend: CamBackend, info: list[m.GroupIdOfUidInfo]) -> list[tuple[int, str]]:
    """Every (group, member) the request names, all checked before any is changed."""
    if not info:
        raise ApiError("InvalidParameter.ParamError", "`Info` must name at least one group and user.")
    pairs = []
    for item in info:
        backend.group(item.GroupId)
        user = (backend.user_by_uin(str(item.Uin)) if item.Uin is not None
                else backend.user_by_uid(item.Uid) if item.Uid is not None else None)
        if user is None:
            raise ApiError("ResourceNotFound.UserNotExist",
                           f"The sub-user {item.Uin or item.Uid} does not exist in this account.")
        pairs.append((item.GroupId, user.uin))
    return pairs


@CAM.action("AddUserToGroup", m.GroupMembers)
async def add_user_to_group(ctx: Context, req: m.GroupMembers) -> dict[str, Any]:
    backend = CamBackend(ctx)
    backend.set_members(_pairs(backend, req.Info), joined=True)
    return {}


@CAM.action("RemoveUserFromGroup", m.GroupMembers)
async def remove_user_from_group(ctx: Context, req: m.GroupMembers) -> dict[str, Any]:
    backend = CamBackend(ctx)
    backend.set_members(_pairs(backend, req.Info), joined=False)
    return {}


@CAM.action("AttachGroupPolicy", m.AttachGroupPolicy)
async def attach_group_policy(ctx: Context, req: m.AttachGroupPolicy) -> dict[str, Any]:
    backend = CamBackend(ctx)
    backend.group(req.AttachGroupId)
    _existing_policy(backend, req.PolicyId)
    backend.attach_group(req.AttachGroupId, req.PolicyId)
    return {}


@CAM.action("DetachGroupPolicy", m.DetachGroupPolicy)
async def detach_group_policy(ctx: Context, req: m.DetachGroupPolicy) -> dict[str, Any]:
    backend = CamBackend(ctx)
    backend.group(req.DetachGroupId)
    _existing_policy(backend, req.PolicyId)
    backend.detach_group(req.DetachGroupId, req.PolicyId)
    return {}


@CAM.action("ListAttachedGroupPolicies", m.ListAttachedGroupPolicies)
async def list_attached_group_policies(ctx: Context, req: m.ListAttachedGroupPolicies) -> dict[str, Any]:
    page, rp = _page(req.Page, req.Rp)
    backend = CamBackend(ctx)
    backend.group(req.TargetGroupId)
    found = []
    for policy_id, attached in backend.group_attached(req.TargetGroupId):
        preset = presets.BY_ID.get(policy_id)
        row = None if preset is not None else backend.policy(policy_id)
        name = preset.name if preset is not None else row.name if row is not None else ""
        if req.Keyword and req.Keyword.lower() not in name.lower():
            continue
        found.append({"PolicyId": policy_id, "PolicyName": name, "AddTime": cam_time(attached),  # type: ignore[arg-type]
                      "CreateMode": 2, "PolicyType": "QCS" if preset is not None else "User",
                      "Remark": preset.description if preset else row.description if row else "",
                      "OperateOwnerUin": ctx.account.uin, "OperateUin": ctx.caller.uin, "OperateUinType": 0})
    return {"TotalNum": len(found), "List": found[(page - 1) * rp: page * rp]}
