"""STS GetCallerIdentity: what tools call first to learn the account they act in."""

from __future__ import annotations

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.sts.v20180813 import models, sts_client

from tests.support.client import Api, other_account, tccli_json
from tests.support.server import SECRET_ID, SECRET_KEY


def test_typed_client_without_region(api: Api) -> None:
    client = sts_client.StsClient(api.cred, "", api.profile)
    who = client.GetCallerIdentity(models.GetCallerIdentityRequest())
    uin = who.AccountId
    assert uin.isdigit()
    assert (who.UserId, who.PrincipalId, who.Type) == (uin, uin, "CAMUser")
    assert who.Arn == f"qcs::cam::uin/{uin}:uin/{uin}"


def test_each_account_sees_itself(server, api: Api) -> None:
    mine = api.call("sts", "GetCallerIdentity")["AccountId"]
    theirs = other_account(server).call("sts", "GetCallerIdentity")["AccountId"]
    assert mine != theirs


def test_bad_input(api: Api) -> None:
    assert api.error("sts", "GetCallerIdentity", Bogus=1).code == "UnknownParameter"
    try:
        sts_client.StsClient(api.cred.__class__(SECRET_ID, "wrong" * 6), "", api.profile).GetCallerIdentity(
            models.GetCallerIdentityRequest())
    except TencentCloudSDKException as exc:
        assert exc.code == "AuthFailure.SignatureFailure"
    else:
        raise AssertionError("a wrong key was accepted")


def test_tccli(server, api: Api) -> None:
    who = tccli_json(server.endpoint, SECRET_ID, SECRET_KEY, "sts", "GetCallerIdentity")
    assert who["AccountId"] == api.call("sts", "GetCallerIdentity")["AccountId"]
    assert who["Type"] == "CAMUser"
