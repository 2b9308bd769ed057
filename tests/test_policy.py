"""The policy evaluator on its own (no server): matching, conditions and the order of decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from minicvm.domain.policy import Resource, denied_resource, parse
from minicvm.errors import ApiError

OWNER = "100000000001"
KNOWN = {"cvm": frozenset({"StopInstances", "StartInstances", "DescribeInstances", "RunInstances"})}


def policy(*statements: dict[str, Any]) -> Any:
    return parse(json.dumps({"version": "2.0", "statement": list(statements)}), OWNER, KNOWN)


def instance(resource_id: str, *tags: str, region: str = "ap-guangzhou") -> Resource:
    return Resource.named("cvm", region, OWNER, f"instance/{resource_id}", tags)


def allowed(policies: list[Any], action: str, resources: list[Resource], **context: tuple[str, ...]) -> bool:
    return denied_resource(policies, action, resources, {k.replace("_", ":", 1): v for k, v in context.items()}) is None


def test_nothing_matching_is_denied_and_deny_wins() -> None:
    allow = policy({"effect": "allow", "action": "cvm:Stop*", "resource": "*"})
    assert allowed([allow], "cvm:StopInstances", [instance("ins-1")])
    assert not allowed([allow], "cvm:StartInstances", [instance("ins-1")])
    assert not allowed([], "cvm:StopInstances", [instance("ins-1")])
    deny = policy({"effect": "deny", "action": "*", "resource": "qcs::cvm:::instance/ins-2"})
    assert allowed([allow, deny], "cvm:StopInstances", [instance("ins-1")])
    assert denied_resource([allow, deny], "cvm:StopInstances", [instance("ins-1"), instance("ins-2")], {}) \
        == instance("ins-2")


def test_six_segment_wildcards_regions_and_accounts() -> None:
    p = policy({"effect": "allow", "action": "name/cvm:StopInstances",
                "resource": [f"qcs::cvm:gz:uin/{OWNER}:instance/*"]})
    assert allowed([p], "cvm:StopInstances", [instance("ins-1")])
    assert not allowed([p], "cvm:StopInstances", [instance("ins-1", region="ap-beijing")])
    other = policy({"effect": "allow", "action": "cvm:*", "resource": "qcs::cvm::uin/999:instance/*"})
    assert not allowed([other], "cvm:StopInstances", [instance("ins-1")])
    # An operation-level action is granted by `*` only.
    assert not allowed([p], "cvm:StopInstances", [Resource.anything()])


def test_tag_ip_region_and_date_conditions() -> None:
    tagged = policy({"effect": "allow", "action": "*", "resource": "*",
                     "condition": {"for_any_value:string_equal": {"qcs:resource_tag": ["env&dev"]}}})
    assert allowed([tagged], "cvm:StopInstances", [instance("ins-1", "env&dev", "team&a")])
    assert not allowed([tagged], "cvm:StopInstances", [instance("ins-1", "env&prod")])
    assert not allowed([tagged], "cvm:StopInstances", [instance("ins-1")])
    ip = policy({"effect": "allow", "action": "*", "resource": "*", "condition": {"ip_equal": {"qcs:ip": "10.0.0.0/8"}}})
    assert allowed([ip], "cvm:StopInstances", [instance("i")], qcs_ip=("10.1.2.3",))
    assert not allowed([ip], "cvm:StopInstances", [instance("i")], qcs_ip=("192.168.0.1",))
    region = policy({"effect": "allow", "action": "*", "resource": "*",
                     "condition": {"string_equal": {"qcs:requested_region": "ap-guangzhou"}}})
    assert allowed([region], "cvm:RunInstances", [Resource.anything()], qcs_requested_region=("ap-guangzhou",))
    assert not allowed([region], "cvm:RunInstances", [Resource.anything()], qcs_requested_region=("ap-beijing",))
    before = policy({"effect": "allow", "action": "*", "resource": "*",
                     "condition": {"date_less_than": {"qcs:current_time": "2030-01-01 00:00:00"}}})
    assert allowed([before], "cvm:StopInstances", [instance("i")], qcs_current_time=("2026-12-02T09:00:00+00:00",))
    assert not allowed([before], "cvm:StopInstances", [instance("i")], qcs_current_time=("2031-01-01T00:00:00Z",))
    every = policy({"effect": "allow", "action": "*", "resource": "*",
                    "condition": {"for_all_value:string_like": {"qcs:request_tag": ["env&*"]}}})
    assert allowed([every], "cvm:RunInstances", [Resource.anything()], qcs_request_tag=("env&dev", "env&x"))
    assert not allowed([every], "cvm:RunInstances", [Resource.anything()], qcs_request_tag=("env&dev", "team&a"))
    missing_ok = policy({"effect": "allow", "action": "*", "resource": "*",
                         "condition": {"string_equal_if_exist": {"cvm:zone": "ap-guangzhou-3"}}})
    assert allowed([missing_ok], "cvm:StopInstances", [instance("i")])


@pytest.mark.parametrize(("statement", "code"), [
    ({"effect": "allow", "action": "cvm:NoSuchAction", "resource": "*"}, "InvalidParameter.ActionNotExist"),
    ({"effect": "allow", "action": "cvm:Stop Instances", "resource": "*"}, "InvalidParameter.ActionError"),
    ({"effect": "allow", "action": "*", "resource": "xyz::cvm:::instance/*"}, "InvalidParameter.ResourceQcsError"),
    ({"effect": "allow", "action": "*", "resource": "qcs::nosuch:::x/*"}, "InvalidParameter.ResourceServiceNotExist"),
    ({"effect": "allow", "action": "*", "resource": "qcs::cvm:::"}, "InvalidParameter.ResourceContentError"),
    ({"effect": "allow", "action": "*", "resource": "*", "condition": {"date_equal": {"qcs:current_time": "soon"}}},
     "InvalidParameter.ConditionContentError"),
    ({"effect": "allow", "action": "*", "resource": "*", "condition": {"for_some:string_equal": {"k": "v"}}},
     "InvalidParameter.ConditionTypeError"),
])
def test_refused_documents(statement: dict[str, Any], code: str) -> None:
    with pytest.raises(ApiError) as caught:
        policy(statement)
    assert caught.value.code == code
