"""CAM through the official SDK: sub-users and their keys, policies, and the decision every request of a
sub-user gets (tag conditions, explicit deny, whole-batch refusal, disabled keys, other accounts' ids)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tencentcloud.cam.v20190116 import cam_client
from tencentcloud.cam.v20190116 import models as cam_models
from tencentcloud.common import credential
from tencentcloud.sts.v20180813 import models as sts_models
from tencentcloud.sts.v20180813 import sts_client

from minicvm import services
from minicvm.services.permissions import DECLARATIONS, Kind
from minicvm.services.registry import SERVICES
from tests.support.client import Api, other_account


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"version": "2.0", "statement": list(statements)})


def _unique(prefix: str) -> str:
    return f"{prefix}{time.monotonic_ns() % 10**9}"


def _sub_user(api: Api, *documents: str) -> tuple[Api, dict[str, Any]]:
    """A new sub-user with an API key and the given policies attached; a client signing with its key."""
    user = api.call("cam", "AddUser", Name=_unique("ops"), UseApi=1)
    for document in documents:
        policy_id = api.call("cam", "CreatePolicy", PolicyName=_unique("p"), PolicyDocument=document)["PolicyId"]
        api.call("cam", "AttachUserPolicy", PolicyId=policy_id, AttachUin=user["Uin"])
    return Api(api.endpoint, user["SecretId"], user["SecretKey"]), user


DEV_ONLY = _document(
    {"effect": "allow", "action": ["name/cvm:StopInstances", "cvm:StartInstances"], "resource": "*",
     "condition": {"for_any_value:string_equal": {"qcs:resource_tag": ["env&dev"]}}},
    {"effect": "allow", "action": "cvm:Describe*", "resource": "*"},
)


def _tagged(api: Api, env: str, count: int = 1) -> list[str]:
    return api.run(count, TagSpecification=[{"ResourceType": "instance", "Tags": [{"Key": "env", "Value": env}]}])


def test_tag_conditioned_policy_stops_dev_and_refuses_prod_whole(api: Api) -> None:
    sub, _user = _sub_user(api, DEV_ONLY)
    dev = _tagged(api, "dev", 2)
    prod = _tagged(api, "prod")[0]

    sub.cvm("StopInstances", InstanceIds=[dev[0]])
    api.wait_state([dev[0]], "STOPPED")

    refused = sub.error("cvm", "StopInstances", InstanceIds=[prod])
    assert refused.code == "UnauthorizedOperation"
    assert "you are not authorized to perform operation (cvm:StopInstances)" in refused.message
    assert f":instance/{prod}) has no permission" in refused.message

    mixed = sub.error("cvm", "StopInstances", InstanceIds=[dev[1], prod])
    assert mixed.code == "UnauthorizedOperation" and prod in mixed.message
    time.sleep(0.3)
    states = api.instances([dev[1], prod])
    assert {i["InstanceState"] for i in states.values()} == {"RUNNING"}  # nothing changed, not even dev[1]

    # Root keys are untouched by any of it.
    api.cvm("StopInstances", InstanceIds=[prod])
    api.wait_state([prod], "STOPPED")


def test_deny_beats_allow(api: Api) -> None:
    target = _tagged(api, "dev")[0]
    deny = _document({"effect": "deny", "action": "cvm:StopInstances",
                      "resource": f"qcs::cvm:ap-guangzhou::instance/{target}"})
    sub, _user = _sub_user(api, DEV_ONLY, deny)
    refused = sub.error("cvm", "StopInstances", InstanceIds=[target])
    assert refused.code == "UnauthorizedOperation" and target in refused.message
    assert api.instance(target)["InstanceState"] == "RUNNING"


def test_nothing_attached_is_nothing_allowed(api: Api) -> None:
    sub, _user = _sub_user(api)
    refused = sub.error("cvm", "DescribeInstances")
    assert refused.code == "UnauthorizedOperation"
    assert "(cvm:DescribeInstances)" in refused.message and ":instance/*) has no permission" in refused.message
    assert sub.error("cam", "ListUsers").code == "AuthFailure.UnauthorizedOperation"


def test_preset_policies(api: Api) -> None:
    presets = api.call("cam", "ListPolicies", Scope="QCS", Rp=200)["List"]
    by_name = {p["PolicyName"]: p["PolicyId"] for p in presets}
    assert {"AdministratorAccess", "ReadOnlyAccess", "QcloudCVMFullAccess", "QcloudCVMReadOnlyAccess",
            "QcloudCLBFullAccess", "QcloudVPCReadOnlyAccess", "QcloudASFullAccess", "QcloudCBSFullAccess",
            "QcloudTAGFullAccess"} <= set(by_name)
    user = api.call("cam", "AddUser", Name=_unique("ro"), UseApi=1)
    api.call("cam", "AttachUserPolicy", PolicyId=by_name["QcloudCVMReadOnlyAccess"], AttachUin=user["Uin"])
    sub = Api(api.endpoint, user["SecretId"], user["SecretKey"])
    sub.cvm("DescribeInstances")
    running = api.run(1)[0]
    assert sub.error("cvm", "StopInstances", InstanceIds=[running]).code == "UnauthorizedOperation"
    attached = api.call("cam", "ListAttachedUserPolicies", TargetUin=user["Uin"])["List"]
    assert [(p["PolicyName"], p["PolicyType"]) for p in attached] == [("QcloudCVMReadOnlyAccess", "QCS")]


def test_disabled_key_is_refused_and_deleted_key_gone(api: Api) -> None:
    sub, user = _sub_user(api, DEV_ONLY)
    sub.cvm("DescribeInstances")
    api.call("cam", "UpdateAccessKey", AccessKeyId=user["SecretId"], Status="Inactive", TargetUin=user["Uin"])
    assert sub.error("cvm", "DescribeInstances").code == "AuthFailure.SecretIdNotFound"
    keys = api.call("cam", "ListAccessKeys", TargetUin=user["Uin"])["AccessKeys"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(user["SecretId"], "Inactive")]
    api.call("cam", "UpdateAccessKey", AccessKeyId=user["SecretId"], Status="Active", TargetUin=user["Uin"])
    sub.cvm("DescribeInstances")
    assert api.error("cam", "DeleteUser", Name=user["Name"]).code == "OperationDenied.HaveKeys"
    api.call("cam", "DeleteAccessKey", AccessKeyId=user["SecretId"], TargetUin=user["Uin"])
    assert sub.error("cvm", "DescribeInstances").code == "AuthFailure.SecretIdNotFound"
    api.call("cam", "DeleteUser", Name=user["Name"])
    assert api.error("cam", "GetUser", Name=user["Name"]).code == "ResourceNotFound.UserNotExist"


def test_other_accounts_ids_stay_not_found(server, api: Api) -> None:
    theirs = other_account(server).run(1)[0]
    sub, _user = _sub_user(api, _document({"effect": "allow", "action": "*", "resource": "*"}))
    as_root = api.error("cvm", "StopInstances", InstanceIds=[theirs]).code
    assert "NotFound" in as_root
    assert sub.error("cvm", "StopInstances", InstanceIds=[theirs]).code == as_root
    dev_only, _ = _sub_user(api, DEV_ONLY)
    assert dev_only.error("cvm", "StopInstances", InstanceIds=[theirs]).code == as_root


def test_caller_identity_of_a_sub_user(api: Api) -> None:
    sub, user = _sub_user(api)
    owner = api.call("sts", "GetCallerIdentity")["AccountId"]
    who = sts_client.StsClient(sub.cred, "", sub.profile).GetCallerIdentity(sts_models.GetCallerIdentityRequest())
    assert (who.Type, who.AccountId, who.UserId, who.PrincipalId) == ("CAMUser", owner, str(user["Uin"]),
                                                                      str(user["Uin"]))
    assert who.Arn == f"qcs::cam::uin/{owner}:uin/{user['Uin']}"


def test_typed_cam_client(api: Api) -> None:
    client = cam_client.CamClient(api.cred, "", api.profile)
    add = cam_models.AddUserRequest()
    add.Name = _unique("typed")
    added = client.AddUser(add)
    assert added.Uin > 0 and added.SecretId == ""
    get = cam_models.GetUserRequest()
    get.Name = add.Name
    assert client.GetUser(get).Uid == added.Uid
    assert add.Name in [u.Name for u in client.ListUsers(cam_models.ListUsersRequest()).Data]
    create = cam_models.CreatePolicyRequest()
    create.PolicyName, create.PolicyDocument = _unique("typed"), DEV_ONLY
    policy_id = client.CreatePolicy(create).PolicyId
    get_policy = cam_models.GetPolicyRequest()
    get_policy.PolicyId = policy_id
    got = client.GetPolicy(get_policy)
    assert (got.PolicyName, got.Type, json.loads(got.PolicyDocument)) == (create.PolicyName, 1, json.loads(DEV_ONLY))
    key = cam_models.CreateAccessKeyRequest()
    key.TargetUin = added.Uin
    made = client.CreateAccessKey(key).AccessKey
    assert made.AccessKeyId.startswith("AKID") and made.SecretAccessKey and made.Status == "Active"


@pytest.mark.parametrize(("document", "code"), [
    ("not json", "InvalidParameter.PolicyDocumentError"),
    ('{"version":"1.0","statement":[{"effect":"allow","action":"*","resource":"*"}]}', "InvalidParameter.VersionError"),
    ('{"version":"2.0","statement":[]}', "InvalidParameter.StatementError"),
    ('{"version":"2.0","statement":[{"effect":"permit","action":"*","resource":"*"}]}', "InvalidParameter.EffectError"),
    ('{"version":"2.0","statement":[{"effect":"allow","resource":"*"}]}', "InvalidParameter.ActionMiss"),
    ('{"version":"2.0","statement":[{"effect":"allow","action":"nosuch:Thing","resource":"*"}]}',
     "InvalidParameter.ActionServiceNotExist"),
    ('{"version":"2.0","statement":[{"effect":"allow","action":"cvm:StopInstance","resource":"*"}]}',
     "InvalidParameter.ActionNotExist"),
    ('{"version":"2.0","statement":[{"effect":"allow","action":"*","resource":"qcs:cvm"}]}',
     "InvalidParameter.ResourceError"),
    ('{"version":"2.0","statement":[{"effect":"allow","action":"*","resource":"qcs::cvm::uin/x:instance/*"}]}',
     "InvalidParameter.ResourceUinError"),
    ('{"version":"2.0","statement":[{"effect":"allow","action":"*","resource":"*",'
     '"condition":{"string_sorta":{"qcs:ip":"1.2.3.4"}}}]}', "InvalidParameter.ConditionTypeError"),
    ('{"version":"2.0","statement":[{"effect":"allow","action":"*","resource":"*",'
     '"condition":{"ip_equal":{"qcs:ip":"not-an-ip"}}}]}', "InvalidParameter.ConditionContentError"),
    ('{"version":"2.0","statement":[{"Effect":"allow","action":"*","resource":"*"}]}',
     "InvalidParameter.StatementError"),
])
def test_malformed_policy_is_refused(api: Api, document: str, code: str) -> None:
    name = _unique("bad")
    assert api.error("cam", "CreatePolicy", PolicyName=name, PolicyDocument=document).code == code
    assert name not in [p["PolicyName"] for p in api.call("cam", "ListPolicies", Scope="Local", Rp=200)["List"]]


def _model_has(model: Any, path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    annotation = field.annotation
    for arg in getattr(annotation, "__args__", ()) or (annotation,):
        inner = getattr(arg, "__args__", (arg,))[0] if getattr(arg, "__origin__", None) is list else arg
        if hasattr(inner, "model_fields") and _model_has(inner, path[1:]):
            return True
    return False


def test_every_registered_action_declares_what_it_touches() -> None:
    services.load()
    registered = {(svc.name, name): action for svc in SERVICES.values() for name, action in svc.actions.items()}
    undeclared = sorted(set(registered) - set(DECLARATIONS))
    assert not undeclared, f"actions without a CAM declaration in services/permissions.py: {undeclared}"
    assert not set(DECLARATIONS) - set(registered), "declarations for actions that are not registered"
    for key, declaration in DECLARATIONS.items():
        model = registered[key].model
        for touch in declaration.touches:
            assert touch.kind is Kind.NAMED or touch.kind.prefix
            for field in touch.fields:
                assert _model_has(model, field.split(".")), f"{key}: {field} is no field of {model.__name__}"
        for field in declaration.request_tags:
            assert _model_has(model, field.split(".")), f"{key}: {field} is no field of {model.__name__}"


def _trusting(*principals: str) -> str:
    return _document({"effect": "allow", "action": "name/sts:AssumeRole", "principal": {"qcs": list(principals)}})


def _session(api: Api, credentials: dict[str, Any], token: str | None = None) -> Api:
    session = Api(api.endpoint, credentials["TmpSecretId"], credentials["TmpSecretKey"])
    session.cred = credential.Credential(credentials["TmpSecretId"], credentials["TmpSecretKey"],
                                         credentials["Token"] if token is None else token)
    return session


def test_assumed_role_acts_with_the_roles_policies_until_expiry(api: Api) -> None:
    owner = api.call("sts", "GetCallerIdentity")["AccountId"]
    name = _unique("role")
    role_id = api.call("cam", "CreateRole", RoleName=name, PolicyDocument=_trusting(f"qcs::cam::uin/{owner}:root"),
                       SessionDuration=7200)["RoleId"]
    assert len(role_id) == 19 and role_id.isdigit()
    api.call("cam", "AttachRolePolicy", PolicyName="QcloudCVMReadOnlyAccess", AttachRoleName=name)
    arn = f"qcs::cam::uin/{owner}:roleName/{name}"
    assumed = api.call("sts", "AssumeRole", RoleArn=arn, RoleSessionName="nightly-job")
    assert assumed["Expiration"].endswith("Z") and assumed["ExpiredTime"] > time.time() + 7000
    session = _session(api, assumed["Credentials"])
    session.cvm("DescribeInstances")
    running = api.run(1)[0]
    assert session.error("cvm", "StopInstances", InstanceIds=[running]).code == "UnauthorizedOperation"
    who = session.call("sts", "GetCallerIdentity")
    assert (who["Type"], who["AccountId"], who["UserId"], who["PrincipalId"]) == (
        "CAMRole", owner, f"{role_id}:nightly-job", owner)
    assert who["Arn"] == f"qcs::sts:{owner}:assumed-role/{role_id}"

    assert _session(api, assumed["Credentials"], token="").error("cvm", "DescribeInstances").code \
        == "AuthFailure.TokenFailure"
    assert _session(api, assumed["Credentials"], token="x" * 96).error("cvm", "DescribeInstances").code \
        == "AuthFailure.TokenFailure"
    assert api.error("sts", "AssumeRole", RoleArn=arn, RoleSessionName="s1", DurationSeconds=7201).code \
        == "InvalidParameter.OverTimeError"
    assert api.error("sts", "AssumeRole", RoleArn=arn + "x", RoleSessionName="s1").code \
        == "ResourceNotFound.RoleNotFound"

    short = api.call("sts", "AssumeRole", RoleArn=arn, RoleSessionName="short", DurationSeconds=1)
    brief = _session(api, short["Credentials"])
    time.sleep(2.1)
    assert brief.error("cvm", "DescribeInstances").code == "AuthFailure.TokenFailure"


def test_trust_policy_and_sts_permission_decide_who_may_assume(api: Api) -> None:
    owner = api.call("sts", "GetCallerIdentity")["AccountId"]
    allowed, allowed_user = _sub_user(api, _document({"effect": "allow", "action": "sts:AssumeRole", "resource": "*"}))
    stranger, _ = _sub_user(api, _document({"effect": "allow", "action": "sts:AssumeRole", "resource": "*"}))
    unpermitted, unpermitted_user = _sub_user(api)
    name = _unique("role")
    api.call("cam", "CreateRole", RoleName=name, PolicyDocument=_trusting(
        f"qcs::cam::uin/{owner}:uin/{allowed_user['Uin']}", f"qcs::cam::uin/{owner}:uin/{unpermitted_user['Uin']}"))
    arn = f"qcs::cam::uin/{owner}:roleName/{name}"
    allowed.call("sts", "AssumeRole", RoleArn=arn, RoleSessionName="ok")
    assert stranger.error("sts", "AssumeRole", RoleArn=arn, RoleSessionName="no").code == "UnauthorizedOperation"
    refused = unpermitted.error("sts", "AssumeRole", RoleArn=arn, RoleSessionName="no")
    assert refused.code == "UnauthorizedOperation" and "(sts:AssumeRole)" in refused.message
    bad_trust = _document({"effect": "allow", "action": "sts:AssumeRole", "principal": {"qcs": ["someone"]}})
    assert api.error("cam", "CreateRole", RoleName=_unique("bad"), PolicyDocument=bad_trust).code \
        == "InvalidParameter.PrincipalQcsError"
    api.call("cam", "DeleteRole", RoleName=name)
    assert api.error("cam", "GetRole", RoleName=name).code == "InvalidParameter.RoleNotExist"


def test_group_policies_apply_to_members(api: Api) -> None:
    sub, user = _sub_user(api)
    group_id = api.call("cam", "CreateGroup", GroupName=_unique("ops"))["GroupId"]
    api.call("cam", "AttachGroupPolicy", PolicyId=4, AttachGroupId=group_id)  # QcloudCVMReadOnlyAccess
    assert sub.error("cvm", "DescribeInstances").code == "UnauthorizedOperation"
    api.call("cam", "AddUserToGroup", Info=[{"GroupId": group_id, "Uin": user["Uin"]}])
    sub.cvm("DescribeInstances")
    group = api.call("cam", "GetGroup", GroupId=group_id)
    assert [u["Name"] for u in group["UserInfo"]] == [user["Name"]] and group["GroupNum"] == 1
    attached = api.call("cam", "ListAttachedGroupPolicies", TargetGroupId=group_id)["List"]
    assert [p["PolicyName"] for p in attached] == ["QcloudCVMReadOnlyAccess"]
    api.call("cam", "RemoveUserFromGroup", Info=[{"GroupId": group_id, "Uid": user["Uid"]}])
    assert sub.error("cvm", "DescribeInstances").code == "UnauthorizedOperation"
    assert api.error("cam", "AddUserToGroup", Info=[{"GroupId": group_id, "Uin": 1}]).code \
        == "ResourceNotFound.UserNotExist"
    api.call("cam", "DeleteGroup", GroupId=group_id)
    assert api.error("cam", "GetGroup", GroupId=group_id).code == "ResourceNotFound.GroupNotExist"


def test_audit_trail_names_who_stopped_an_instance_and_who_was_refused(api: Api) -> None:
    sub, user = _sub_user(api, DEV_ONLY)
    dev = _tagged(api, "dev")[0]
    prod = _tagged(api, "prod")[0]
    started = int(time.time()) - 5
    sub.cvm("StopInstances", InstanceIds=[dev])
    sub.error("cvm", "StopInstances", InstanceIds=[prod])
    api.wait_state([dev], "STOPPED")
    window = {"StartTime": started, "EndTime": int(time.time()) + 5}

    stopped = api.call("cloudaudit", "LookUpEvents", **window,
                       LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": dev}])["Events"]
    assert [(e["EventName"], e["Username"], e["ErrorCode"]) for e in stopped] == [
        ("StopInstances", user["Name"], 0)]
    detail = json.loads(stopped[0]["CloudAuditEvent"])
    assert detail["userIdentity"]["principalId"] == str(user["Uin"]) and detail["userIdentity"]["type"] == "CAMUser"

    refused = api.call("cloudaudit", "LookUpEvents", **window,
                       LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": prod}])["Events"]
    assert [(e["EventName"], e["Username"]) for e in refused] == [("StopInstances", user["Name"])]
    assert "UnauthorizedOperation" in json.loads(refused[0]["CloudAuditEvent"])["errorMessage"]

    by_root = api.call("cloudaudit", "LookUpEvents", **window, MaxResults=50,
                       LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "root"},
                                         {"AttributeKey": "EventName", "AttributeValue": "RunInstances"}])["Events"]
    assert len(by_root) >= 2 and {(e["Username"], e["EventName"]) for e in by_root} == {("root", "RunInstances")}
    assert api.error("cloudaudit", "LookUpEvents", **window,
                     LookupAttributes=[{"AttributeKey": "Nope", "AttributeValue": "x"}]).code \
        == "InvalidParameterValue.AttributeKey"
