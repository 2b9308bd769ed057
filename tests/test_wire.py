"""The wire protocol: signatures, envelopes, routing and bad input, as the SDK and tccli see them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.cvm.v20170312 import cvm_client
from tencentcloud.cvm.v20170312 import models as cvm_models

from minicvm.api.signing import expected_signature
from tests.support.client import Api, SdkError, tccli, tccli_json
from tests.support.server import SECRET_ID, SECRET_KEY


def signed_post(server, body: bytes, *, action: str = "DescribeZones", service: str = "cvm",
                version: str = "2017-03-12", timestamp: int | None = None, secret_key: str = SECRET_KEY,
                secret_id: str = SECRET_ID, host: str | None = None, extra: dict | None = None) -> httpx.Response:
    ts = int(time.time()) if timestamp is None else timestamp
    date = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
    host = host or server.endpoint
    headers = {"content-type": "application/json", "host": host}
    sig = expected_signature(secret_key=secret_key, method="POST", query="", headers=headers,
                             signed_headers=("content-type", "host"), body=body, timestamp=str(ts), date=date,
                             service=service)
    headers.update({
        "X-TC-Action": action, "X-TC-Version": version, "X-TC-Timestamp": str(ts), "X-TC-Region": "ap-guangzhou",
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
                         f"SignedHeaders=content-type;host, Signature={sig}",
        **(extra or {}),
    })
    return httpx.post(server.url, content=body, headers=headers, timeout=10)


def error_code(resp: httpx.Response) -> str:
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    payload = resp.json()["Response"]
    assert payload["RequestId"]
    return payload["Error"]["Code"]


def test_spec_test_vectors_match_our_signer() -> None:
    # Signatures the official SDK produced for these requests: ours must match them exactly.
    common = dict(secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", signed_headers=("content-type", "host"),
                  timestamp="1551113065", date="2019-02-25", service="cvm")
    post = expected_signature(method="POST", query="",
                              headers={"content-type": "application/json", "host": "127.0.0.1:4566"},
                              body=b'{"InstanceIds": ["ins-12345678"], "StopType": "SOFT"}', **common)
    assert post == "fff62f2b777bf989ae7f3dc87fc2985b0842108519315db205f2a8f449682b86"
    get = expected_signature(method="GET", query="InstanceIds.0=ins-12345678&StopType=SOFT",
                             headers={"content-type": "application/x-www-form-urlencoded", "host": "127.0.0.1:4566"},
                             body=b"", **common)
    assert get == "27b4212ea746a5e3877bd7ac5ac24cbda18231f17f4386a2a6872770340f1e56"


def test_typed_sdk_client_round_trip(server) -> None:
    client = cvm_client.CvmClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou",
                                  ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=server.endpoint)))
    zones = client.DescribeZones(cvm_models.DescribeZonesRequest())
    assert zones.TotalCount == 4 and zones.ZoneSet[0].Zone == "ap-guangzhou-3"
    # The SDK's default language is zh-CN and ZoneName follows it.
    assert zones.ZoneSet[0].ZoneName == "广州三区"
    req = cvm_models.DescribeInstancesRequest()
    req.Limit = 1
    assert client.DescribeInstances(req).TotalCount >= 0
    bad = cvm_models.StopInstancesRequest()
    bad.InstanceIds = ["ins-00000000"]
    with pytest.raises(SdkError) as exc:
        client.StopInstances(bad)
    assert exc.value.code == "InvalidInstanceId.NotFound" and exc.value.requestId


def test_get_requests_are_verified_and_coerced(server) -> None:
    api = Api(server.endpoint, SECRET_ID, SECRET_KEY, method="GET")
    out = api.cvm("DescribeInstanceTypeConfigs", Filters=[{"Name": "instance-family", "Values": ["S5"]}])
    assert {c["InstanceFamily"] for c in out["InstanceTypeConfigSet"]} == {"S5"}
    assert api.cvm("DescribeInstances", Limit=5, Offset=0)["TotalCount"] >= 0
    ids = api.run(1)
    api.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
    assert api.wait_state(ids, "STOPPED")


def test_signature_failures(server) -> None:
    body = b"{}"
    assert error_code(signed_post(server, body, secret_key="wrong")) == "AuthFailure.SignatureFailure"
    assert error_code(signed_post(server, body, secret_id="AKIDnobody")) == "AuthFailure.SecretIdNotFound"
    assert error_code(signed_post(server, body, timestamp=int(time.time()) - 301)) == "AuthFailure.SignatureExpire"
    resp = httpx.post(server.url, content=body, headers={"Content-Type": "application/json", "X-TC-Action": "DescribeZones"})
    assert error_code(resp) == "AuthFailure.InvalidAuthorization"
    resp = httpx.post(server.url, content=body, headers={"Authorization": "SKIP", "X-TC-Action": "DescribeZones"})
    assert error_code(resp) == "AuthFailure.InvalidAuthorization"
    good = signed_post(server, body)
    assert "Error" not in good.json()["Response"]


def test_host_header_is_used_verbatim(server) -> None:
    # tccli signs `Host: http://127.0.0.1:PORT`; the verifier must use what was sent.
    resp = signed_post(server, b"{}", host=f"http://{server.endpoint}")
    assert "Error" not in resp.json()["Response"]


def test_routing_errors(server) -> None:
    assert error_code(signed_post(server, b"{}", action="NoSuchThing")) == "InvalidAction"
    assert error_code(signed_post(server, b"{}", version="2020-01-01")) == "NoSuchVersion"
    # A scope naming no product is routed by the action (the Node.js and Java SDKs put `127` there).
    assert error_code(signed_post(server, b"{}", service="nosuch", action="NoSuchThing")) == "InvalidAction"
    assert "Error" not in signed_post(server, b"{}", service="nosuch").json()["Response"]
    assert error_code(signed_post(server, b"{}", extra={"X-TC-Region": "mars-1"})) == "UnsupportedRegion"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "InvalidRequest"),
        (b"[1, 2]", "InvalidRequest"),
        (b'{"InstanceIds": "ins-12345678"}', "InvalidParameter"),
        (b'{"InstanceIds": [1]}', "InvalidParameter"),
        (b'{"InstanceIds": ["ins-12345678"], "Bogus": 1}', "UnknownParameter"),
        (b"{}", "MissingParameter"),
        (b'{"InstanceIds": ["ins-1122"]}', "InvalidInstanceId.Malformed"),
        (b'{"InstanceIds": ["ins-12345678"], "StopType": "GENTLE"}', "InvalidParameterValue"),
        (b'{"InstanceIds": ["ins-12345678"], "StopType": "SOFT", "ForceStop": true}', "InvalidParameterCombination"),
        (json.dumps({"InstanceIds": [f"ins-{i:08d}" for i in range(101)]}).encode(),
         "InvalidParameterValue.LimitExceeded"),
    ],
)
def test_bad_input_is_a_clear_error(server, body: bytes, code: str) -> None:
    assert error_code(signed_post(server, body, action="StopInstances")) == code


def test_oversized_body_is_refused(server) -> None:
    body = json.dumps({"InstanceName": "x" * (2 << 20)}).encode()
    assert error_code(signed_post(server, body, action="RunInstances")) == "RequestSizeLimitExceeded"


def test_every_response_has_a_fresh_request_id(api) -> None:
    first = api.cvm("DescribeZones")["RequestId"]
    second = api.cvm("DescribeZones")["RequestId"]
    assert first != second


def test_tccli_against_the_local_endpoint(server, tmp_path) -> None:
    out = tccli_json(server.endpoint, SECRET_ID, SECRET_KEY, "cvm", "DescribeZones", home=tmp_path)
    assert out["TotalCount"] == 4
    ids = tccli_json(server.endpoint, SECRET_ID, SECRET_KEY, "cvm", "RunInstances", "--Placement",
                     '{"Zone": "ap-guangzhou-3"}', "--ImageId", "img-eb30mz89", home=tmp_path)["InstanceIdSet"]
    api = Api(server.endpoint, SECRET_ID, SECRET_KEY)
    api.wait_state(ids, "RUNNING")
    stop = tccli(server.endpoint, SECRET_ID, SECRET_KEY, "cvm", "StopInstances", "--InstanceIds", json.dumps(ids),
                 "--StopType", "SOFT_FIRST", "--StoppedMode", "KEEP_CHARGING", home=tmp_path)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert api.wait_state(ids, "STOPPED")
    again = tccli(server.endpoint, SECRET_ID, SECRET_KEY, "cvm", "StopInstances", "--InstanceIds", json.dumps(ids),
                  home=tmp_path)
    assert again.returncode != 0
    assert "UnsupportedOperation.InstanceStateStopped" in again.stdout + again.stderr



def test_a_bad_stop_type_or_stopped_mode_gets_one_answer_wherever_it_is_sent(api) -> None:
    """The request models carry the enums: every action refuses a value outside them the same way, naming the
    accepted values, and an instance that does not exist is not even looked up."""
    stop_type = [api.error("cvm", action, InstanceIds=["ins-12345678"], StopType="GENTLE")
                 for action in ("StopInstances", "RebootInstances")]
    stopped_mode = [api.error("cvm", "StopInstances", InstanceIds=["ins-12345678"], StoppedMode="PAUSE"),
                    api.error("as", "StopAutoScalingInstances", AutoScalingGroupId="asg-12345678",
                              InstanceIds=["ins-12345678"], StoppedMode="PAUSE")]
    for errors, accepted in ((stop_type, "SOFT, HARD, SOFT_FIRST"), (stopped_mode, "KEEP_CHARGING, STOP_CHARGING")):
        assert {e.code for e in errors} == {"InvalidParameterValue"}
        assert len({e.message for e in errors}) == 1, [e.message for e in errors]
        assert accepted in errors[0].message
