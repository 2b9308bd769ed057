"""CAM 2019-01-16 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Req


class AddUser(Req):
    Name: str
    Remark: str | None = None
    ConsoleLogin: int | None = None
    UseApi: int | None = None
    Password: str | None = None
    NeedResetPassword: int | None = None
    PhoneNum: str | None = None
    CountryCode: str | None = None
    Email: str | None = None


class UserName(Req):
    Name: str


class DeleteUser(Req):
    Name: str
    Force: int | None = None


class ListUsers(Req):
    pass


class CreateAccessKey(Req):
    TargetUin: int | None = None
    Description: str | None = None


class ListAccessKeys(Req):
    TargetUin: int | None = None


class UpdateAccessKey(Req):
    AccessKeyId: str
    Status: str
    TargetUin: int | None = None


class DeleteAccessKey(Req):
    AccessKeyId: str
    TargetUin: int | None = None


class PolicyTag(Req):
    Key: str
    Value: str | None = None


class CreatePolicy(Req):
    PolicyName: str
    PolicyDocument: str
    Description: str | None = None
    Tags: list[PolicyTag] | None = None


class GetPolicy(Req):
    PolicyId: int


class ListPolicies(Req):
    Rp: int | None = None
    Page: int | None = None
    Scope: str | None = None
    Keyword: str | None = None


class UpdatePolicy(Req):
    PolicyId: int | None = None
    PolicyName: str | None = None
    Description: str | None = None
    PolicyDocument: str | None = None
    Alias: str | None = None


class DeletePolicy(Req):
    PolicyId: list[int]


class AttachUserPolicy(Req):
    PolicyId: int
    AttachUin: int


class DetachUserPolicy(Req):
    PolicyId: int
    DetachUin: int


class ListAttachedUserPolicies(Req):
    TargetUin: int
    Page: int | None = None
    Rp: int | None = None


class CreateRole(Req):
    RoleName: str
    PolicyDocument: str
    Description: str | None = None
    ConsoleLogin: int | None = None
    SessionDuration: int | None = None
    Tags: list[PolicyTag] | None = None


class RoleRef(Req):
    RoleId: str | None = None
    RoleName: str | None = None


class AttachRolePolicy(Req):
    PolicyId: int | None = None
    PolicyName: str | None = None
    AttachRoleId: str | None = None
    AttachRoleName: str | None = None


class DetachRolePolicy(Req):
    PolicyId: int | None = None
    PolicyName: str | None = None
    DetachRoleId: str | None = None
    DetachRoleName: str | None = None


class ListAttachedRolePolicies(Req):
    Page: int
    Rp: int
    RoleId: str | None = None
    RoleName: str | None = None
    PolicyType: str | None = None
    Keyword: str | None = None


class CreateGroup(Req):
    GroupName: str
    Remark: str | None = None


class GroupRef(Req):
    GroupId: int


class ListGroups(Req):
    Page: int | None = None
    Rp: int | None = None
    Keyword: str | None = None


class GroupIdOfUidInfo(Req):
    GroupId: int
    Uid: int | None = None
    Uin: int | None = None


class GroupMembers(Req):
    Info: list[GroupIdOfUidInfo]


class AttachGroupPolicy(Req):
    PolicyId: int
    AttachGroupId: int


class DetachGroupPolicy(Req):
    PolicyId: int
    DetachGroupId: int


class ListAttachedGroupPolicies(Req):
    TargetGroupId: int
    Page: int | None = None
    Rp: int | None = None
    Keyword: str | None = None
