"""Wire and console fuzzing: every registered action and every field of its request model gets wrong
types, boundary numbers, Unicode, NUL, huge values and deep nesting, signed as the SDK signs (POST JSON
and GET query strings); and unsigned requests and the console get garbage paths, headers, cookies,
tokens and bodies. Every answer must be a Tencent-style answer (HTTP 200, `Content-Type:
application/json` exactly, a RequestId, never InternalError) or, off the API, a 4xx; a refusal changes
nothing; the server logs no exception.

MINICVM_FUZZ_CASES sets the signed cases per database (default 10,000); MINICVM_FUZZ_SEED the seed
(fixed by default, so a failure reproduces)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from pydantic import BaseModel

from minicvm import services
from minicvm.api.signing import expected_signature
from minicvm.services.registry import SERVICES
from tests.support.console import ConsoleClient
from tests.support.server import SECRET_ID, SECRET_KEY

CASES = int(os.environ.get("MINICVM_FUZZ_CASES", "10000"))
SEED = int(os.environ.get("MINICVM_FUZZ_SEED", "20261202"))
CONSOLE_CASES = max(2000, CASES // 4)
pytestmark = pytest.mark.timeout(1200)  # ~40 s each here; a loaded machine or a longer run needs more


def nested_dict(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64,
    1.5, -0.0, 1e308, "", " ", "0", "-1", "9223372036854775808", "a" * 5000, "中文名字", "\u202eevil", "a\x00b",
    "\x00", "😀" * 10, "ins-00000000", "disk-zzzzzzzz", "lb-%2e%2e", "../../etc/passwd", "%s%n%x", "<script>",
    "'; DROP TABLE instances; --", [], [None], [1, 2, 3], ["a\x00"], ["x"] * 200, {}, {"Name": "x", "Values": ["y"]},
    nested_dict(12), nested_dict(40), nested_list(40),
]


def fields_of(model: type[BaseModel]) -> list[tuple[str, Any]]:
    return [(name, field.annotation) for name, field in model.model_fields.items()]


def inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside `Model`, `Model | None`, `list[Model] | None`."""
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        for inner in typing.get_args(arg):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def signed_cases(rng: random.Random) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(service, version, action, params): each field of each action with each value, then nested fields
    and random combinations until CASES."""
    services.load()
    actions = [(s.name, s.version, a.name, a.model) for s in SERVICES.values() for a in s.actions.values()]
    produced = 0
    for service, version, action, model in actions:
        for name, annotation in fields_of(model):
            for value in VALUES:
                yield service, version, action, {name: value}
                produced += 1
                if produced >= CASES:
                    return
            inner = inner_model(annotation)
            if inner is not None:
                for sub, _ in fields_of(inner):
                    value = rng.choice(VALUES)
                    yield service, version, action, {name: {sub: value}}
                    yield service, version, action, {name: [{sub: value}]}
                    produced += 2
    while produced < CASES:
        service, version, action, model = rng.choice(actions)
        names = [n for n, _ in fields_of(model)] + ["Unknown", "a.b", "\x00", "Offset", "Limit"]
        params = {rng.choice(names): rng.choice(VALUES) for _ in range(rng.randint(1, 4))}
        yield service, version, action, params
        produced += 1


def flatten(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The SDK's GET encoding (Filters.0.Values.1=x); values it could not encode are sent as text."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            pairs += flatten(value, name) if value else [(name, "")]
        elif isinstance(value, list):
            for i, item in enumerate(value):
                pairs += flatten({str(i): item}, name)
        else:
            pairs.append((name, "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)))
    return pairs


class Signer:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=60)

    def send(self, service: str, version: str, action: str, params: dict[str, Any], method: str) -> httpx.Response:
        ts = int(time.time())
        date = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        ctype = "application/json" if method == "POST" else "application/x-www-form-urlencoded"
        headers = {"content-type": ctype, "host": self.server.endpoint}
        if method == "POST":
            body, query = json.dumps(params, ensure_ascii=False).encode(), ""  # orjson stops at 64 bits
        else:
            body = b""
            query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in flatten(params))
        sig = expected_signature(secret_key=SECRET_KEY, method=method, query=query, headers=headers,
                                 signed_headers=("content-type", "host"), body=body, timestamp=str(ts), date=date,
                                 service=service)
        headers.update({"X-TC-Action": action, "X-TC-Version": version, "X-TC-Timestamp": str(ts),
                        "X-TC-Region": "ap-guangzhou", "X-TC-Language": "en-US",
                        "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/{service}/tc3_request, "
                                         f"SignedHeaders=content-type;host, Signature={sig}"})
        url = "/" + (f"?{query}" if query else "")
        return self.http.request(method, url, content=body or None, headers=headers)


def header(value: str) -> bytes:
    """Any text as a header value the HTTP client will send (it refuses NUL and line breaks itself)."""
    return value.replace("\x00", "").replace("\r", "").replace("\n", "").strip().encode()


def api_answer(resp: httpx.Response, what: str) -> dict[str, Any]:
    assert resp.status_code == 200, f"{what}: HTTP {resp.status_code} {resp.text[:300]}"
    assert resp.headers.get("content-type") == "application/json", f"{what}: {resp.headers.get('content-type')}"
    payload = resp.json()["Response"]
    assert payload.get("RequestId"), what
    error = payload.get("Error")
    assert error is None or error["Code"] != "InternalError", f"{what}: {error}"
    return payload


SNAPSHOT = [("cvm", "2017-03-12", "DescribeInstances", {"Limit": 100}), ("cbs", "2017-03-12", "DescribeDisks", {"Limit": 100}),
            ("vpc", "2017-03-12", "DescribeAddresses", {"Limit": 100}), ("vpc", "2017-03-12", "DescribeVpcs", {}),
            ("vpc", "2017-03-12", "DescribeSubnets", {}), ("cvm", "2017-03-12", "DescribeKeyPairs", {"Limit": 100}),
            ("clb", "2018-03-17", "DescribeLoadBalancers", {"Limit": 100}),
            ("as", "2018-04-19", "DescribeAutoScalingGroups", {"Limit": 100}),
            ("as", "2018-04-19", "DescribeLaunchConfigurations", {"Limit": 100})]


def snapshot(signer: Signer) -> str:
    """The account's resources as the API lists them, minus what changes by itself (times, request ids)."""
    digest = hashlib.sha256()
    for service, version, action, params in SNAPSHOT:
        payload = api_answer(signer.send(service, version, action, params, "POST"), action)
        payload.pop("RequestId")
        text = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        digest.update(text)
    return digest.hexdigest()


def test_signed_fuzz(make_server) -> None:
    srv = make_server()
    signer = Signer(srv)
    rng = random.Random(SEED)
    count = refused = 0
    block_start, block_clean = snapshot(signer), True
    for n, (service, version, action, params) in enumerate(signed_cases(rng)):
        method = "GET" if n % 4 == 3 else "POST"
        payload = api_answer(signer.send(service, version, action, params, method),
                             f"{method} {service}.{action} {str(params)[:200]}")
        count += 1
        if "Error" in payload:
            refused += 1
        else:
            block_clean = False  # this one was accepted: it may change state
        if n % 500 == 499:
            now = snapshot(signer)
            assert not block_clean or now == block_start, f"state changed during refused requests before case {n}"
            block_start, block_clean = now, True
    assert count >= CASES
    srv.assert_clean_log()
    print(f"signed fuzz: {count} cases, {refused} refused, seed {SEED}")


CONSOLE_PATHS = ["/console/", "/console/login", "/console/logout", "/console/api/me", "/console/api/call",
                 "/console/api/instances", "/console/api/instances/ins-00000000", "/console/api/instances/%00",
                 "/console/api/lifecycle", "/console/api/clb/lb-00000000/counters", "/console/static/app.js",
                 "/console/static/%2e%2e%2fapp.js", "/console/static/app.js%00.js", "/metrics", "/healthz", "/",
                 "/console/api/events?x=%ff", "/%ff%fe", "/console/" + "a" * 3000]
GARBAGE = ["", "\x00", "é", "中文", "a" * 4000, "%00", "%ff", "..", "'\"<>", "9223372036854775808", "-1", "{}", "[]",
           "\u202e"]


def test_console_and_unsigned_fuzz(make_server) -> None:
    srv = make_server()
    rng = random.Random(SEED + 1)
    console = ConsoleClient(srv.url)
    assert console.sign_in().status_code == 303
    anonymous = httpx.Client(base_url=srv.url, timeout=30)
    services.load()
    actions = [(s.name, a.name) for s in SERVICES.values() for a in s.actions.values()]
    for n in range(CONSOLE_CASES):
        kind = n % 5
        junk = rng.choice(GARBAGE)
        if kind == 0:  # signed in: /console/api/call with random envelopes
            service, action = rng.choice(actions)
            body = rng.choice([
                {"Service": service, "Action": action, "Region": rng.choice(["ap-guangzhou", junk]),
                 "Params": {rng.choice(["Offset", "Limit", "InstanceIds", junk]): rng.choice(VALUES)}},
                {"Service": junk, "Action": action, "Params": []}, [junk], junk, None])
            depth = rng.choice([5, 300, 990])  # written by hand: json.dumps itself stops near 1,000 levels
            raw = json.dumps(body).encode() if body is not None else b'{"a":' * depth + b"1" + b"}" * depth
            resp = console.http.post("/console/api/call", content=raw,
                                     headers={"X-CSRF-Token": rng.choice([console.csrf.encode(), console.csrf.encode(),
                                                                          header(junk)])})
            assert resp.status_code in (200, 403), resp.text[:300]
            if resp.status_code == 200:
                error = resp.json()["Response"].get("Error")
                assert error is None or error["Code"] != "InternalError", error
            continue
        if kind == 1:  # signed in: the JSON GETs with junk queries
            path = rng.choice(CONSOLE_PATHS[4:11])
            query = "&".join(f"{quote(k, safe='')}={quote(rng.choice(GARBAGE), safe='%')}" for k in
                             rng.sample(["region", "offset", "limit", "state", "name", "ids", junk or "x"], 3))
            resp = console.http.get(f"{path}?{query}")
        elif kind == 2:  # anonymous: every path, odd methods, odd cookies and headers
            method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
            anonymous.cookies.clear()
            anonymous.cookies.set("minicvm_session", quote(junk))
            anonymous.cookies.set("minicvm_login_csrf", quote(rng.choice(GARBAGE)))
            resp = anonymous.request(method, rng.choice(CONSOLE_PATHS), headers={
                "X-CSRF-Token": quote(junk), "Content-Type": rng.choice([b"application/json", b"text/plain", header(junk)])},
                content=junk.encode())
        elif kind == 3:  # anonymous sign-in forms
            form = {rng.choice(["csrf", "SecretId", "SecretKey", "AccountName", "Password", junk]): rng.choice(GARBAGE)
                    for _ in range(4)}
            resp = anonymous.post("/console/login", data=form)
        else:  # unsigned or badly signed API requests
            stamp = rng.choice([str(int(time.time())), junk])
            headers = {"Content-Type": "application/json", "X-TC-Action": rng.choice(["DescribeZones", junk]),
                       "X-TC-Version": rng.choice(["2017-03-12", junk]), "X-TC-Timestamp": stamp,
                       "X-TC-Region": rng.choice(["ap-guangzhou", junk]),
                       "Authorization": rng.choice(["", "TC3-HMAC-SHA256 " + junk,
                                                    f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2026-01-01/cvm/tc3_request, "
                                                    f"SignedHeaders=content-type;host, Signature={junk * 64}"[:8000]])}
            resp = anonymous.post("/", content=junk.encode(), headers={k: header(v) for k, v in headers.items()})
            api_answer(resp, f"unsigned {headers}")
            continue
        assert resp.status_code < 500, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text[:300]}"
    console.close()
    srv.assert_clean_log()
    print(f"console/unsigned fuzz: {CONSOLE_CASES} cases, seed {SEED + 1}")
