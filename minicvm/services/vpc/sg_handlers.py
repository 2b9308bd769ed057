"""Security groups on the wire (VPC 2017-03-12): groups, their rules and where they are used. Each action
checks its request, turns rules into the stored shape (one dict per rule, PolicyIndex being its position)
and leaves the state to the backend (security_groups.py)."""

from __future__ import annotations

from typing import Any

from minicvm import errors
from minicvm import ids as idmod
from minicvm.domain.firewall import (
    Direction,
    RuleError,
    parse_cidr,
    parse_ipv6_cidr,
    parse_ports,
    parse_protocol,
    parse_verdict,
)
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.tag import rules as tag_rules
from minicvm.services.vpc import models as m
from minicvm.services.vpc.handlers import VALUES_CODE, string_paging
from minicvm.services.vpc.security_groups import SecurityGroupBackend, UpdateType
from minicvm.services.vpc.service import VPC
from minicvm.services.vpc.views import policy_set_view, security_group_view

GROUP_FILTERS = ("security-group-id", "project-id", "security-group-name", "tag-key", "tag-value")
POLICY_FILTERS = ("security-group-id", "ip", "address-module", "service-module", "protocol-type", "port", "poly",
                  "direction", "description")
ID_CODE = "InvalidSecurityGroupID.Malformed"


def group_id_ok(value: str) -> str:
    if not idmod.is_well_formed(value, "sg"):
        raise ApiError(ID_CODE, f"The security group id {value!r} is malformed; expected sg-xxxxxxxx.")
    return value


def name_ok(value: str | None, field: str, limit: int, required: bool) -> str | None:
    if value is None:
        if required:
            raise errors.missing(field)
        return None
    if not value:
        raise ApiError("InvalidParameterValue.Empty", f"`{field}` must not be empty.")
    if len(value) > limit:
        raise ApiError("InvalidParameterValue.TooLong", f"`{field}` must be at most {limit} characters.")
    return value


def project_id_ok(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not (value.isascii() and value.isdigit()):
        raise ApiError("InvalidParameterValue.Malformed", f"`ProjectId` {value!r} is not a project number.")
    common.check_number("ProjectId", int(value))
    return int(value)


def rule_of(p: m.Policy) -> dict[str, Any]:
    """One rule as stored, or the error Tencent gives for it."""
    if p.ServiceTemplate is not None or p.AddressTemplate is not None:
        raise ApiError("InvalidParameterValue", "minicvm has no parameter templates: give Protocol/Port and a "
                                                "CidrBlock or SecurityGroupId.")
    if p.Protocol is None:
        raise errors.missing("SecurityGroupPolicySet.Protocol")
    if p.Action is None:
        raise errors.missing("SecurityGroupPolicySet.Action")
    sources = [f for f in ("CidrBlock", "Ipv6CidrBlock", "SecurityGroupId") if getattr(p, f)]
    if len(sources) > 1:
        raise ApiError("InvalidParameter.Coexist", f"A rule names one source; got {', '.join(sources)}.")
    if not sources:
        raise ApiError("MissingParameter", "A rule needs a source: `CidrBlock`, `Ipv6CidrBlock` or `SecurityGroupId`.")
    if p.PolicyDescription is not None and len(p.PolicyDescription) > 100:
        raise ApiError("InvalidParameterValue.TooLong", "`PolicyDescription` must be at most 100 characters.")
    try:
        protocol = parse_protocol(p.Protocol)
        parse_ports(protocol, p.Port)
        cidr = parse_cidr(p.CidrBlock) if p.CidrBlock else ""
        ipv6 = parse_ipv6_cidr(p.Ipv6CidrBlock) if p.Ipv6CidrBlock else ""
        verdict = parse_verdict(p.Action)
    except RuleError as exc:
        raise ApiError("InvalidParameterValue.Malformed", str(exc)) from None
    group = group_id_ok(p.SecurityGroupId) if p.SecurityGroupId else ""
    return {"Protocol": protocol.value, "Port": (p.Port or "ALL") if protocol.has_ports else "ALL",
            "CidrBlock": cidr, "Ipv6CidrBlock": ipv6, "SecurityGroupId": group, "Action": verdict.value,
            "PolicyDescription": p.PolicyDescription or ""}


def one_direction(policies: m.PolicySet) -> tuple[Direction, list[m.Policy]]:
    """The rule actions other than ModifySecurityGroupPolicies take one direction per request."""
    given = [(d, rules) for d, rules in ((Direction.INGRESS, policies.Ingress), (Direction.EGRESS, policies.Egress))
             if rules]
    if not given:
        raise ApiError("MissingParameter", "`SecurityGroupPolicySet` needs `Ingress` or `Egress` rules.")
    if len(given) > 1:
        raise ApiError("InvalidParameter.Coexist", "Give `Ingress` or `Egress` rules, one direction per request.")
    return given[0]


@VPC.action("CreateSecurityGroup", m.CreateSecurityGroup)
async def create_security_group(ctx: Context, req: m.CreateSecurityGroup) -> dict[str, Any]:
    return {"SecurityGroup": security_group_view(_create(ctx, req, None))}


@VPC.action("CreateSecurityGroupWithPolicies", m.CreateSecurityGroupWithPolicies)
async def create_security_group_with_policies(ctx: Context, req: m.CreateSecurityGroupWithPolicies) -> dict[str, Any]:
    return {"SecurityGroup": security_group_view(_create(ctx, req, req.SecurityGroupPolicySet))}


def _create(ctx: Context, req: m.CreateSecurityGroup, policies: m.PolicySet | None) -> Any:
    name = name_ok(req.GroupName, "GroupName", 60, True)
    description = name_ok(req.GroupDescription, "GroupDescription", 100, True)
    tags = tag_rules.check_new_resource_tags([(t.Key, t.Value or "") for t in req.Tags or []])
    ingress = [rule_of(p) for p in (policies.Ingress or [])] if policies else []
    egress = [rule_of(p) for p in (policies.Egress or [])] if policies else []
    return SecurityGroupBackend(ctx).create(name or "", description or "", project_id_ok(req.ProjectId), tags,
                                            ingress, egress)


@VPC.action("DescribeSecurityGroups", m.DescribeSecurityGroups)
async def describe_security_groups(ctx: Context, req: m.DescribeSecurityGroups) -> dict[str, Any]:
    wanted = [group_id_ok(g) for g in req.SecurityGroupIds or []]
    if len(wanted) > 100:
        raise ApiError("InvalidParameterValue.LimitExceeded", "`SecurityGroupIds` takes at most 100 ids.")
    if wanted and req.Filters:
        raise ApiError("InvalidParameter.Coexist", "`SecurityGroupIds` and `Filters` cannot be used together.")
    filters = common.check_filters(req.Filters, GROUP_FILTERS, unknown_code="InvalidParameter.FilterInvalidKey",
                                   max_values=100, values_code=VALUES_CODE)
    offset, limit = string_paging(req.Offset, req.Limit)
    if req.OrderField is not None and req.OrderField not in ("CreatedTime", "UpdateTime"):
        raise ApiError("InvalidParameterValue.Range", "`OrderField` must be CreatedTime or UpdateTime.")
    direction = (req.OrderDirection or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise ApiError("InvalidParameterValue.Range", "`OrderDirection` must be ASC or DESC.")
    total, rows = SecurityGroupBackend(ctx).describe(wanted, filters, offset, limit, req.OrderField, direction == "DESC")
    return {"TotalCount": total, "SecurityGroupSet": [security_group_view(r) for r in rows]}


@VPC.action("DeleteSecurityGroup", m.SecurityGroupId)
async def delete_security_group(ctx: Context, req: m.SecurityGroupId) -> dict[str, Any]:
    SecurityGroupBackend(ctx).delete(group_id_ok(req.SecurityGroupId))
    return {}


@VPC.action("ModifySecurityGroupAttribute", m.ModifySecurityGroupAttribute)
async def modify_security_group_attribute(ctx: Context, req: m.ModifySecurityGroupAttribute) -> dict[str, Any]:
    group_id = group_id_ok(req.SecurityGroupId)
    if req.GroupName is None and req.GroupDescription is None:
        raise errors.missing_one_of("GroupName", "GroupDescription")
    SecurityGroupBackend(ctx).modify_attribute(group_id, name_ok(req.GroupName, "GroupName", 60, False),
                                               name_ok(req.GroupDescription, "GroupDescription", 100, False))
    return {}


@VPC.action("DescribeSecurityGroupPolicies", m.DescribeSecurityGroupPolicies)
async def describe_security_group_policies(ctx: Context, req: m.DescribeSecurityGroupPolicies) -> dict[str, Any]:
    group = SecurityGroupBackend(ctx).one(group_id_ok(req.SecurityGroupId))
    filters = common.check_filters(req.Filters, POLICY_FILTERS, unknown_code="InvalidParameter.FilterInvalidKey",
                                   max_values=100, values_code=VALUES_CODE, prefixes=())
    return {"SecurityGroupPolicySet": policy_set_view(group, lambda d, rule: _policy_matches(filters, d, rule))}


def _policy_matches(filters: dict[str, list[str]], direction: Direction, rule: dict[str, Any]) -> bool:
    wanted = {k: [v.upper() for v in vs] for k, vs in filters.items()}
    checks = {
        "direction": lambda vs: "ALL" in vs or ("INBOUND" if direction is Direction.INGRESS else "OUTBOUND") in vs,
        "protocol-type": lambda vs: "ALL" in vs or rule["Protocol"] in vs,
        "poly": lambda vs: "ALL" in vs or rule["Action"] in vs,
        "port": lambda vs: "ALL" in vs or any(v in rule["Port"].upper() for v in vs),
        "ip": lambda vs: any(v in (rule["CidrBlock"] + rule["Ipv6CidrBlock"]).upper() for v in vs),
        "description": lambda vs: any(v in rule["PolicyDescription"].upper() for v in vs),
        "security-group-id": lambda vs: rule["SecurityGroupId"].upper() in vs,
        "address-module": lambda vs: False,
        "service-module": lambda vs: False,
    }
    return all(checks[name](values) for name, values in wanted.items())


@VPC.action("CreateSecurityGroupPolicies", m.SecurityGroupPolicies)
async def create_security_group_policies(ctx: Context, req: m.SecurityGroupPolicies) -> dict[str, Any]:
    group_id = group_id_ok(req.SecurityGroupId)
    direction, policies = one_direction(req.SecurityGroupPolicySet)
    indexes = {p.PolicyIndex for p in policies}
    if len(indexes) > 1:
        raise ApiError("InvalidParameterValue", "Every rule of one request carries the same `PolicyIndex` (or none).")
    index = indexes.pop()
    SecurityGroupBackend(ctx).add_rules(group_id, direction, [rule_of(p) for p in policies], index,
                                        req.SecurityGroupPolicySet.Version)
    return {}


@VPC.action("DeleteSecurityGroupPolicies", m.SecurityGroupPolicies)
async def delete_security_group_policies(ctx: Context, req: m.SecurityGroupPolicies) -> dict[str, Any]:
    group_id = group_id_ok(req.SecurityGroupId)
    direction, policies = one_direction(req.SecurityGroupPolicySet)
    by_index = [p.PolicyIndex is not None for p in policies]
    if any(by_index) and not all(by_index):
        raise ApiError("InvalidParameter.Coexist", "Delete rules by `PolicyIndex` or by content, not both.")
    backend = SecurityGroupBackend(ctx)
    version = req.SecurityGroupPolicySet.Version
    if all(by_index):
        backend.delete_rules(group_id, direction, [p.PolicyIndex for p in policies if p.PolicyIndex is not None], None,
                             version)
    else:
        backend.delete_rules(group_id, direction, None, [rule_of(p) for p in policies], version)
    return {}


@VPC.action("ReplaceSecurityGroupPolicies", m.ReplaceSecurityGroupPolicies)
async def replace_security_group_policies(ctx: Context, req: m.ReplaceSecurityGroupPolicies) -> dict[str, Any]:
    group_id = group_id_ok(req.SecurityGroupId)
    direction, policies = one_direction(req.SecurityGroupPolicySet)
    try:
        update = UpdateType(req.UpdateType or UpdateType.POLICY)
    except ValueError:
        raise ApiError("InvalidParameterValue.Invalid", "`UpdateType` must be Policy, Priority or Both.") from None
    if update is not UpdateType.POLICY:
        raise ApiError("UnsupportedOperation", "minicvm replaces rule content in place (UpdateType Policy); "
                                               "reorder with ModifySecurityGroupPolicies.")
    replaced = []
    for p in policies:
        if p.PolicyIndex is None:
            raise errors.missing("SecurityGroupPolicySet.PolicyIndex")
        replaced.append((p.PolicyIndex, rule_of(p)))
    SecurityGroupBackend(ctx).replace_rules(group_id, direction, replaced, req.SecurityGroupPolicySet.Version)
    return {}


@VPC.action("ModifySecurityGroupPolicies", m.ModifySecurityGroupPolicies)
async def modify_security_group_policies(ctx: Context, req: m.ModifySecurityGroupPolicies) -> dict[str, Any]:
    group_id = group_id_ok(req.SecurityGroupId)
    policies = req.SecurityGroupPolicySet
    if policies.Version == "0":  # Tencent's way of saying "clear every rule"
        SecurityGroupBackend(ctx).reset_rules(group_id, [], [])
        return {}
    if policies.Ingress is None or policies.Egress is None:
        raise ApiError("MissingParameter", "`SecurityGroupPolicySet` must carry both `Ingress` and `Egress`: "
                                           "it replaces both directions.")
    if any(p.PolicyIndex is not None for p in [*policies.Ingress, *policies.Egress]):
        raise ApiError("InvalidParameterValue", "ModifySecurityGroupPolicies takes no `PolicyIndex`: rules keep "
                                                "the order given.")
    SecurityGroupBackend(ctx).reset_rules(group_id, [rule_of(p) for p in policies.Ingress],
                                          [rule_of(p) for p in policies.Egress])
    return {}


@VPC.action("DescribeSecurityGroupAssociationStatistics", m.SecurityGroupIds)
async def describe_association_statistics(ctx: Context, req: m.SecurityGroupIds) -> dict[str, Any]:
    wanted = common.check_ids(req.SecurityGroupIds, "sg", "SecurityGroupIds", ID_CODE)
    stats = SecurityGroupBackend(ctx).statistics(wanted)
    return {"SecurityGroupAssociationStatisticsSet": [
        {"SecurityGroupId": s.group_id, "CVM": s.instances, "CDB": 0, "ENI": 0, "SG": s.referencing_groups, "CLB": 0,
         "TotalCount": s.instances, "InstanceStatistics": [{"InstanceType": "CVM", "InstanceCount": s.instances}]}
        for s in stats]}
