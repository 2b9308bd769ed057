"""Hostile and careless input through every door (signed API, console, guests): a clear Tencent-style
error or a 4xx, never a 500 or `InternalError`, and nothing changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from minicvm import services
from minicvm.api.signing import expected_signature
from minicvm.services.registry import SERVICES
from tests.support.client import VERSIONS, Api, SdkError, other_account
from tests.support.console import ConsoleClient
from tests.support.server import SECRET_ID, SECRET_KEY


def test_console_checks_the_region_like_the_api(server, api: Api) -> None:
    """A made-up region is refused by the console exactly as by the signed API, before any handler runs:
    no address leaves the shared pool, and no KeyError surfaces as a 500."""
    console = ConsoleClient(server.url)
    assert console.sign_in().status_code == 303
    before = len(api.call("vpc", "DescribeAddresses", Limit=100)["AddressSet"])
    for service, action, params in [("vpc", "AllocateAddresses", {"AddressCount": 1}),
                                    ("vpc", "CreateVpc", {"VpcName": "x", "CidrBlock": "10.0.0.0/16"}),
                                    ("clb", "CreateLoadBalancer", {"LoadBalancerType": "OPEN"}),
                                    ("cvm", "DescribeZones", {})]:
        for region in ("fake-1", "", "ap-guangzhou\x00"):
            answer = console.call(service, action, region=region, **params)
            assert answer["Error"]["Code"] in ("UnsupportedRegion", "MissingParameter"), answer
    assert len(api.call("vpc", "DescribeAddresses", Limit=100)["AddressSet"]) == before
    console.close()


def test_public_ips_have_a_per_account_quota(server, api: Api) -> None:
    """One account cannot drain the public-IP pool every account shares: EIPs in every region and
    instances' public IPs count against one per-account quota (100 by default)."""
    hog = other_account(server)
    held = 0
    for region in ("ap-guangzhou", "ap-shanghai", "ap-beijing"):
        hog.region = region
        hog._clients.clear()
        hog.call("vpc", "AllocateAddresses", AddressCount=20)
        held += 20
    hog.region = "ap-guangzhou"
    hog._clients.clear()
    error = hog.error("cvm", "RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-eb30mz89",
                      InstanceType="S5.SMALL1", InstanceCount=100 - held + 1,
                      InternetAccessible={"InternetMaxBandwidthOut": 1})
    assert error.code == "InvalidParameterValue.ExternalIpQuotaLimited", error
    assert hog.call("cvm", "DescribeInstances")["TotalCount"] == 0
    # Another account is untouched by the first one's quota.
    assert api.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"]


def test_guest_memory_is_capped_at_the_instances_memory(make_server) -> None:
    """/mem values live in the server's own memory (sim): a guest can hold no more than its instance
    type's memory there (scaled like disks by --sim-bytes-per-gib: 1 GiB here is 1 MiB)."""
    srv = make_server(sim_bytes_per_gib=1 << 20)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    [instance_id] = api.run(1, InstanceType="S5.SMALL1")
    url = "http://" + api.instance(instance_id)["GuestAddress"]
    chunk = b"m" * (400 << 10)
    with httpx.Client(timeout=10) as client:
        assert client.put(f"{url}/mem/a", content=chunk).status_code == 204
        assert client.put(f"{url}/mem/b", content=chunk).status_code == 204
        assert client.put(f"{url}/mem/c", content=chunk).status_code == 507
        assert client.put(f"{url}/mem/a", content=chunk).status_code == 204  # replacing is not growing
        assert client.delete(f"{url}/mem/b").status_code == 204
        assert client.put(f"{url}/mem/c", content=chunk).status_code == 204
        assert client.get(f"{url}/mem/c").content == chunk


def signed_get(server, query: str, *, action: str = "DescribeInstances", service: str = "cvm") -> httpx.Response:
    """A GET signed as the SDK signs it, over a query string the test writes itself."""
    ts = int(time.time())
    date = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
    headers = {"content-type": "application/x-www-form-urlencoded", "host": server.endpoint}
    sig = expected_signature(secret_key=SECRET_KEY, method="GET", query=query, headers=headers,
                             signed_headers=("content-type", "host"), body=b"", timestamp=str(ts), date=date,
                             service=service)
    headers.update({
        "X-TC-Action": action, "X-TC-Version": VERSIONS[service], "X-TC-Timestamp": str(ts),
        "X-TC-Region": "ap-guangzhou",
        "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/{service}/tc3_request, "
                         f"SignedHeaders=content-type;host, Signature={sig}",
    })
    return httpx.get(f"{server.url}/?{query}", headers=headers, timeout=30)


def refused(resp: httpx.Response, *codes: str) -> str:
    """A Tencent-style refusal: HTTP 200, exact JSON content type, an error code that is not InternalError."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    code = resp.json()["Response"]["Error"]["Code"]
    assert code != "InternalError"
    if codes:
        assert code in codes, resp.text
    return code


def paged_actions() -> list[tuple[str, str, type]]:
    services.load()
    found = []
    for service in SERVICES.values():
        for action in service.actions.values():
            field = action.model.model_fields.get("Offset")
            if field is not None:
                found.append((service.name, action.name, field.annotation))
    return found


def test_wire_never_answers_500(server, api: Api) -> None:
    # Non-ASCII in Signature= is a malformed header, not a crash in the comparison.
    ts = int(time.time())
    date = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
    auth = (f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/cvm/tc3_request, SignedHeaders=content-type;host, "
            f"Signature={'é' * 64}").encode("latin-1")
    resp = httpx.post(server.url, content=b"{}", timeout=10, headers={
        "content-type": "application/json", "X-TC-Action": "DescribeZones", "X-TC-Version": "2017-03-12",
        "X-TC-Timestamp": str(ts), "X-TC-Region": "ap-guangzhou", "Authorization": auth})
    refused(resp, "AuthFailure.InvalidAuthorization")
    # GET keys: non-ASCII digits as list indexes, and thousands of dotted levels.
    refused(signed_get(server, "InstanceIds.%D9%A3=ins-12345678"), "UnknownParameter", "InvalidParameter")
    refused(signed_get(server, "InstanceIds.%C2%B2=ins-12345678"), "UnknownParameter", "InvalidParameter")
    refused(signed_get(server, ".".join(["Filters"] * 3000) + "=x"), "InvalidParameter")
    # Offset at and beyond 2**63 (and beyond 32 bits) on every paged Describe, POST and GET.
    for service, action, annotation in paged_actions():
        for offset in (2**31, 2**63, 2**64 + 5):
            value = str(offset) if "str" in str(annotation) else offset
            with pytest.raises(SdkError) as err:
                api.call(service, action, Offset=value)
            assert err.value.code.startswith(("InvalidParameter", "MissingParameter")), (action, err.value)
            code = refused(signed_get(server, f"Offset={offset}", action=action, service=service))
            assert code.startswith(("InvalidParameter", "MissingParameter")), (action, code)
    # Integers beyond 32 and 64 bits where the store compares them with its columns.
    for params in ({"TaskId": 2**31}, {"TaskId": 2**63}, {"TaskId": -(2**70)}):
        error = api.error("vpc", "DescribeTaskResult", **params)
        assert error.code.startswith("InvalidParameter"), error
    lb = api.call("clb", "CreateLoadBalancer", LoadBalancerType="OPEN")["LoadBalancerIds"][0]
    for port in (2**31, 2**64):
        error = api.error("clb", "CreateListener", LoadBalancerId=lb, Ports=[port], Protocol="TCP")
        assert error.code.startswith("InvalidParameter"), error
    # A NUL character in any string that would reach SQL.
    nul = "a\x00b"
    for service, action, params in [
        ("cvm", "DescribeInstances", {"Filters": [{"Name": "instance-name", "Values": [nul]}]}),
        ("cvm", "DescribeInstances", {"InstanceIds": ["ins-1234567\x00"]}),
        ("cvm", "CreateKeyPair", {"KeyName": nul, "ProjectId": 0}),
        ("vpc", "CreateVpc", {"VpcName": nul, "CidrBlock": "10.0.0.0/16"}),
        ("vpc", "AllocateAddresses", {"AddressName": nul}),
        ("clb", "DescribeLoadBalancers", {"LoadBalancerName": nul}),
        ("as", "DescribeAutoScalingGroups", {"Filters": [{"Name": "auto-scaling-group-name", "Values": [nul]}]}),
        ("cbs", "DescribeDisks", {"Filters": [{"Name": "disk-name", "Values": [nul]}]}),
    ]:
        assert api.error(service, action, **params).code.startswith("InvalidParameter"), action
    refused(signed_get(server, "InstanceName=a%00b&Placement.Zone=ap-guangzhou-3&ImageId=img-eb30mz89",
                       action="RunInstances"), "InvalidParameterValue")
    server.assert_clean_log()


def test_console_never_answers_500(server) -> None:
    console = ConsoleClient(server.url)
    # Before sign-in: a non-ASCII SecretKey, NUL in a field, a NUL in a static file's name.
    for fields in ({"SecretId": SECRET_ID, "SecretKey": "é" * 32}, {"SecretId": "AKID\x00", "SecretKey": "x"},
                   {"AccountName": "dé\x00fault", "Password": "p\x00ssword"}):
        assert console.sign_in(**fields).status_code == 401
    assert console.http.get("/console/static/app.js%00.js").status_code == 404
    assert console.http.get("/console/static/..%2Fviews.py").status_code == 404
    assert console.sign_in().status_code == 303
    # Signed in: a non-ASCII CSRF token, JSON nested 990 levels, offsets beyond 64 bits.
    answer = console.http.post("/console/api/call", content=b"{}",
                               headers={"X-CSRF-Token": "é".encode("latin-1") * 40})
    assert answer.status_code == 403
    nested = b'{"Service": "cvm", "Action": "DescribeInstances", "Params": ' + b'{"a": ' * 990 + b"1" + b"}" * 991
    answer = console.http.post("/console/api/call", content=nested, headers={"X-CSRF-Token": console.csrf})
    assert answer.status_code == 200
    assert answer.json()["Response"]["Error"]["Code"] in ("InvalidRequest", "InvalidParameter")
    assert console.call("cvm", "DescribeInstances", Offset=2**63)["Error"]["Code"] == "InvalidParameterValue"
    for query in ("offset=9223372036854775808", "limit=99999999999999999999", "ids=ins-1234567%00",
                  "name=a%00b"):
        assert console.http.get(f"/console/api/instances?{query}").status_code == 400, query
    assert console.http.get("/console/api/clb/lb-1234%00/counters").status_code == 404
    assert console.http.get("/console/api/instances/ins-%00").status_code in (400, 404)
    console.close()
    server.assert_clean_log()


def test_host_and_content_type_must_be_signed(server) -> None:
    body = b"{}"
    for signed in (("host",), ("content-type",), ("x-tc-action",)):
        ts = int(time.time())
        date = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        headers = {"content-type": "application/json", "host": server.endpoint, "x-tc-action": "DescribeZones"}
        sig = expected_signature(secret_key=SECRET_KEY, method="POST", query="", headers=headers, signed_headers=signed,
                                 body=body, timestamp=str(ts), date=date, service="cvm")
        headers.update({"X-TC-Version": "2017-03-12", "X-TC-Timestamp": str(ts), "X-TC-Region": "ap-guangzhou",
                        "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/cvm/tc3_request, "
                                         f"SignedHeaders={';'.join(signed)}, Signature={sig}"})
        resp = httpx.post(server.url, content=body, headers=headers, timeout=10)
        refused(resp, "AuthFailure.InvalidAuthorization")


def test_console_pages_cannot_be_framed_or_load_foreign_code(server) -> None:
    console = ConsoleClient(server.url)
    for path in ("/console/login", "/console/static/app.js"):
        headers = console.http.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
    assert console.sign_in().status_code == 303
    page = console.http.get("/console/")
    assert page.headers["x-frame-options"] == "DENY" and "content-security-policy" in page.headers
    console.close()


def test_instances_have_a_per_account_quota(make_server) -> None:
    srv = make_server(quota_instances=3)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    api.run(2, wait=False, InstanceType="S5.SMALL1")
    error = api.error("cvm", "RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-eb30mz89",
                      InstanceType="S5.SMALL1", InstanceCount=2)
    assert error.code == "InstancesQuotaLimitExceeded", error
    assert api.cvm("DescribeInstances")["TotalCount"] == 2
    other = other_account(srv)
    assert len(other.run(2, wait=False, InstanceType="S5.SMALL1")) == 2  # the quota is each account's own
