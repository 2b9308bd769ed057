"""CAM policy language 2.0: reading a document (refusing what Tencent refuses, with its codes), compiling it
once into matchers, and deciding a request. Pure: the caller supplies the request's context.

Evaluation follows Tencent's documented order: everything is denied by default, a matching `deny` statement
wins over any `allow`, and a resource is allowed only when some `allow` statement matches it."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from minicvm.errors import ApiError

MAX_DOCUMENT_BYTES = 6144
STATEMENT_KEYS = frozenset({"effect", "action", "resource", "condition", "principal"})
# CAM namespaces a statement's action may name. Those served here are checked action by action; the others
# (Tencent products minicvm does not emulate) only by form.
KNOWN_NAMESPACES = frozenset({"cvm", "vpc", "clb", "as", "tag", "cam", "sts", "monitor", "tat", "cbs", "cos",
                              "cloudaudit", "cls", "scf", "tke", "cdb", "redis", "ssl", "dnspod", "billing"})
# Legacy short region names still seen in resource descriptions and in real denial messages.
SHORT_REGIONS = {"gz": "ap-guangzhou", "sh": "ap-shanghai", "bj": "ap-beijing", "cd": "ap-chengdu",
                 "cq": "ap-chongqing", "hk": "ap-hongkong", "sg": "ap-singapore", "nj": "ap-nanjing"}
_ACTION = re.compile(r"^(?:name/)?([a-z][a-z0-9_-]*|\*):([A-Za-z0-9*]+)$")
_SEGMENT = re.compile(r"^[A-Za-z0-9*_.-]*$")


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


def _invalid(code: str, why: str) -> ApiError:
    return ApiError(f"InvalidParameter.{code}", f"The policy document is invalid: {why}.")


# ---- conditions ----

def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


def _parse_date(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Test = Callable[[str], bool]


def _string_test(op: str, values: Sequence[str]) -> Test:
    if op in ("string_equal", "string_not_equal"):
        wanted = frozenset(values)
        return wanted.__contains__
    if op in ("string_equal_ignore_case", "string_not_equal_ignore_case"):
        folded = frozenset(v.casefold() for v in values)
        return lambda s: s.casefold() in folded
    globs = [_glob(v) for v in values]  # string_like / string_not_like
    return lambda s: any(g.match(s) for g in globs)


def _ip_test(values: Sequence[str]) -> Test:
    nets = [ipaddress.ip_network(v, strict=False) for v in values]

    def test(s: str) -> bool:
        try:
            address = ipaddress.ip_address(s)
        except ValueError:
            return False
        return any(address in n for n in nets)

    return test


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "equal": lambda a, b: a == b, "not_equal": lambda a, b: a != b, "less_than": lambda a, b: a < b,
    "less_than_equal": lambda a, b: a <= b, "greater_than": lambda a, b: a > b,
    "greater_than_equal": lambda a, b: a >= b,
}


def _ordered_test(kind: str, suffix: str, values: Sequence[str]) -> Test:
    convert: Callable[[str], float] = (lambda s: _parse_date(s).timestamp()) if kind == "date" else float
    bounds = [convert(v) for v in values]
    compare = _COMPARE[suffix]

    def test(s: str) -> bool:
        try:
            value = convert(s)
        except ValueError:
            return False
        # A negative comparison holds only if it holds against every value; a positive one against any.
        return all(compare(value, b) for b in bounds) if suffix == "not_equal" else any(compare(value, b) for b in bounds)

    return test


NEGATED = frozenset({"string_not_equal", "string_not_equal_ignore_case", "string_not_like", "ip_not_equal"})
STRING_OPS = frozenset({"string_equal", "string_not_equal", "string_equal_ignore_case", "string_not_equal_ignore_case",
                        "string_like", "string_not_like"})
ORDERED_OPS = frozenset(f"{kind}_{suffix}" for kind in ("numeric", "date") for suffix in _COMPARE)
OPERATORS = STRING_OPS | ORDERED_OPS | {"ip_equal", "ip_not_equal", "bool_equal", "binary_equal", "null_equal"}


def _value_test(op: str, values: Sequence[str]) -> Test:
    if op in STRING_OPS:
        positive = _string_test(op, values)
    elif op in ("ip_equal", "ip_not_equal"):
        positive = _ip_test(values)
    elif op in ORDERED_OPS:
        kind, _, suffix = op.partition("_")
        return _ordered_test(kind, suffix, values)
    else:  # bool_equal, binary_equal
        wanted = frozenset(v.lower() for v in values)
        return lambda s: s.lower() in wanted
    return (lambda s: not positive(s)) if op in NEGATED else positive


@dataclass(frozen=True)
class Condition:
    key: str
    quantifier: str  # "", "for_any_value", "for_all_value"
    if_exists: bool
    test: Test
    null_check: bool | None = None  # null_equal: True means "the key must be absent"

    def holds(self, context: Mapping[str, Sequence[str]]) -> bool:
        values = context.get(self.key)
        if self.null_check is not None:
            return (not values) is self.null_check
        if not values:
            return self.if_exists or self.quantifier == "for_all_value"
        if self.quantifier == "for_all_value":
            return all(self.test(v) for v in values)
        return any(self.test(v) for v in values)


def _compile_conditions(raw: object) -> tuple[Condition, ...]:
    if not isinstance(raw, dict) or not raw:
        raise _invalid("ConditionError", "`condition` must be an object of operators")
    out: list[Condition] = []
    for operator, block in raw.items():
        quantifier, _, op = operator.rpartition(":")
        if quantifier not in ("", "for_any_value", "for_all_value"):
            raise _invalid("ConditionTypeError", f"unknown condition prefix `{quantifier}`")
        if_exists = op.endswith("_if_exist") and op != "null_equal"
        base = op.removesuffix("_if_exist") if if_exists else op
        if base not in OPERATORS:
            raise _invalid("ConditionTypeError", f"unknown condition operator `{operator}`")
        if not isinstance(block, dict) or not block:
            raise _invalid("ConditionError", f"`{operator}` must map condition keys to values")
        for key, value in block.items():
            values = [value] if isinstance(value, str | int | float | bool) else value
            if not isinstance(key, str) or not key or not isinstance(values, list) or not values \
                    or not all(isinstance(v, str | int | float | bool) for v in values):
                raise _invalid("ConditionContentError", f"`{operator}` on `{key}` needs a value or a list of values")
            texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
            try:
                if base == "null_equal":
                    out.append(Condition(key, quantifier, False, lambda s: True, null_check=texts[0].lower() == "true"))
                else:
                    out.append(Condition(key, quantifier, if_exists, _value_test(base, texts)))
            except ValueError as exc:
                raise _invalid("ConditionContentError", f"`{operator}` on `{key}`: {exc}") from None
    return tuple(out)


# ---- resources ----

@dataclass(frozen=True)
class Resource:
    """A resource a request touches, named in the six-segment form (or `*` for an operation-level action)."""

    name: str
    service_type: str = ""
    region: str = ""
    account: str = ""
    path: str = ""
    tags: tuple[str, ...] = ()  # `key&value`, as `qcs:resource_tag` compares them

    @classmethod
    def anything(cls) -> Resource:
        return cls("*")

    @classmethod
    def named(cls, service_type: str, region: str, owner_uin: str, path: str, tags: Iterable[str] = ()) -> Resource:
        return cls(f"qcs::{service_type}:{region}:uin/{owner_uin}:{path}", service_type, region,
                   f"uin/{owner_uin}", path, tuple(tags))


@dataclass(frozen=True)
class ResourcePattern:
    service: re.Pattern[str] | None
    region: re.Pattern[str] | None
    account: re.Pattern[str]
    path: re.Pattern[str]

    def matches(self, r: Resource) -> bool:
        if r.name == "*":
            return False  # an operation-level action is granted only by `resource: "*"`
        return ((self.service is None or bool(self.service.match(r.service_type)))
                and (self.region is None or bool(self.region.match(r.region)))
                and bool(self.account.match(r.account)) and bool(self.path.match(r.path)))


def _compile_resource(text: object, owner_uin: str) -> ResourcePattern | None:
    if not isinstance(text, str) or not text:
        raise _invalid("ResourceError", "every resource must be a non-empty string")
    if text == "*":
        return None
    parts = text.split(":", 5)
    if len(parts) != 6:
        raise _invalid("ResourceError", f"`{text}` is neither `*` nor qcs:project:service:region:account:resource")
    qcs, _project, service, region, account, path = parts
    if qcs != "qcs":
        raise _invalid("ResourceQcsError", f"`{text}` must start with `qcs`")
    if service and service != "*" and service not in KNOWN_NAMESPACES:
        raise _invalid("ResourceServiceNotExist", f"the service `{service}` in `{text}` does not exist")
    if not _SEGMENT.match(region):
        raise _invalid("ResourceRegionError", f"the region `{region}` in `{text}` is malformed")
    if account and not re.match(r"^(?:uin|uid)/(?:\d+|\*)$", account):
        raise _invalid("ResourceUinError", f"the account `{account}` in `{text}` must be uin/<uin>")
    if not path:
        raise _invalid("ResourceContentError", f"`{text}` names no resource")
    region = SHORT_REGIONS.get(region, region)
    return ResourcePattern(
        service=_glob(service) if service and service != "*" else None,
        region=_glob(region) if region and region != "*" else None,
        account=_glob(account or f"uin/{owner_uin}"),
        path=_glob(path),
    )


# ---- statements and policies ----

@dataclass(frozen=True)
class Statement:
    effect: Effect
    actions: re.Pattern[str]
    resources: tuple[ResourcePattern, ...] | None  # None: `*`, every resource
    conditions: tuple[Condition, ...]

    def applies(self, action: str, resource: Resource, context: Mapping[str, Sequence[str]]) -> bool:
        if not self.actions.match(action):
            return False
        if self.resources is not None and not any(p.matches(resource) for p in self.resources):
            return False
        if not self.conditions:
            return True
        local = {**context, "qcs:resource_tag": resource.tags} if resource.tags else context
        return all(c.holds(local) for c in self.conditions)


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...] = field(default=())


def _strings(raw: object, code: str, what: str) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise _invalid(code, f"`{what}` must be a string or a non-empty list of strings")
    return items


def _compile_actions(raw: object, known: Mapping[str, frozenset[str]]) -> re.Pattern[str]:
    patterns = []
    for text in _strings(raw, "ActionError", "action"):
        if text == "*":
            patterns.append(".*")
            continue
        m = _ACTION.match(text)
        if m is None:
            raise _invalid("ActionError", f"the action `{text}` is not of the form [name/]<service>:<Action>")
        namespace, name = m.groups()
        if namespace != "*" and namespace not in KNOWN_NAMESPACES:
            raise _invalid("ActionServiceNotExist", f"the service `{namespace}` in `{text}` does not exist")
        served = known.get(namespace)
        if served is not None and "*" not in name and name not in served:
            raise _invalid("ActionNotExist", f"`{namespace}` has no action `{name}`")
        patterns.append(_glob(f"{namespace}:{name}").pattern[1:-1])
    return re.compile("^(?:" + "|".join(patterns) + ")$", re.IGNORECASE)


def parse(document: str, owner_uin: str, known_actions: Mapping[str, frozenset[str]]) -> Policy:
    """A policy document as CreatePolicy takes it; any flaw is refused with the code Tencent gives it."""
    if len(document.encode()) > MAX_DOCUMENT_BYTES:
        raise _invalid("PolicyDocumentLengthOverLimit", f"it is longer than {MAX_DOCUMENT_BYTES} bytes")
    statements = []
    for raw in _raw_statements(document, only_known_elements=True):
        effect = raw.get("effect")
        if effect not in ("allow", "deny"):
            raise _invalid("EffectError", "`effect` must be `allow` or `deny`")
        if "action" not in raw:
            raise _invalid("ActionMiss", "every statement needs an `action`")
        actions = _compile_actions(raw["action"], known_actions)
        if "resource" not in raw:
            raise _invalid("ResourceError", "every statement needs a `resource`")
        texts = _strings(raw["resource"], "ResourceError", "resource")
        patterns = [_compile_resource(t, owner_uin) for t in texts]
        resources = None if any(p is None for p in patterns) else tuple(p for p in patterns if p is not None)
        if "principal" in raw and not isinstance(raw["principal"], dict):
            raise _invalid("PrincipalError", "`principal` must be an object such as {\"qcs\": [...]}")
        conditions = _compile_conditions(raw["condition"]) if "condition" in raw else ()
        statements.append(Statement(Effect(effect), actions, resources, conditions))
    return Policy(tuple(statements))


def denied_resource(policies: Iterable[Policy], action: str, resources: Sequence[Resource],
                    context: Mapping[str, Sequence[str]]) -> Resource | None:
    """The first resource the request may not touch, or None when every one is allowed."""
    statements = [s for p in policies for s in p.statements if s.actions.match(action)]
    for resource in resources:
        allowed = False
        for s in statements:
            if s.applies(action, resource, context):
                if s.effect is Effect.DENY:
                    return resource
                allowed = True
        if not allowed:
            return resource
    return None


# ---- role trust policies ----

@dataclass(frozen=True)
class TrustStatement:
    effect: Effect
    actions: re.Pattern[str]
    principals: frozenset[str]


@dataclass(frozen=True)
class TrustPolicy:
    """Who may assume a role: statements over `sts:AssumeRole` naming principals, not resources."""

    statements: tuple[TrustStatement, ...]

    def trusts(self, names: Iterable[str]) -> bool:
        """`names` are the caller's principal names (its own and its account's `:root`)."""
        caller = frozenset(names)
        matching = [s for s in self.statements if s.actions.match("sts:AssumeRole") and s.principals & caller]
        return any(s.effect is Effect.ALLOW for s in matching) and not any(s.effect is Effect.DENY for s in matching)



def _raw_statements(document: str, *, only_known_elements: bool) -> list[dict[str, Any]]:
    """A policy document's statements as JSON objects holding only statement keys, or the error Tencent
    gives for the first thing wrong with the document around them."""
    try:
        doc = json.loads(document)
    except ValueError:
        raise _invalid("PolicyDocumentError", "it is not JSON") from None
    if not isinstance(doc, dict):
        raise _invalid("PolicyDocumentError" if only_known_elements else "VersionError",
                       "it must be a JSON object" if only_known_elements else "`version` must be \"2.0\"")
    unknown = set(doc) - {"version", "statement"}
    if only_known_elements and unknown:
        raise _invalid("PolicyDocumentError", f"unknown element(s) {sorted(unknown)} (element names are lower-case)")
    if doc.get("version") != "2.0":
        raise _invalid("VersionError", "`version` must be \"2.0\"")
    raw_statements = doc.get("statement")
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise _invalid("StatementError", "`statement` must be a non-empty list of statements")
    for raw in raw_statements:
        if not isinstance(raw, dict) or set(raw) - STATEMENT_KEYS:
            raise _invalid("StatementError", f"a statement may hold only {sorted(STATEMENT_KEYS)}")
    return raw_statements

_PRINCIPAL = re.compile(r"^qcs::cam::uin/\d+:(?:root|uin/\d+)$")


def parse_trust(document: str, known_actions: Mapping[str, frozenset[str]]) -> TrustPolicy:
    statements = []
    for raw in _raw_statements(document, only_known_elements=False):
        if raw.get("effect") not in ("allow", "deny"):
            raise _invalid("EffectError", "`effect` must be `allow` or `deny`")
        if "action" not in raw:
            raise _invalid("ActionMiss", "every statement needs an `action`")
        principal = raw.get("principal")
        if not isinstance(principal, dict) or not principal:
            raise _invalid("PrincipalError", "a trust policy statement needs a `principal` such as {\"qcs\": [...]}")
        names: list[str] = []
        for kind, value in principal.items():
            if kind not in ("qcs", "service"):
                raise _invalid("PrincipalError", f"unknown principal kind `{kind}`")
            values = _strings(value, "PrincipalError", f"principal.{kind}")
            if kind == "qcs" and not all(_PRINCIPAL.match(v) for v in values):
                raise _invalid("PrincipalQcsError", "qcs principals are qcs::cam::uin/<uin>:root or …:uin/<uin>")
            names.extend(values)
        statements.append(TrustStatement(Effect(raw["effect"]), _compile_actions(raw["action"], known_actions),
                                         frozenset(names)))
    return TrustPolicy(tuple(statements))
