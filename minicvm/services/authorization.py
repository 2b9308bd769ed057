"""The CAM decision for one request of a sub-user: the resources the action's declaration names, their tags,
the caller's attached policies (compiled once per policy version), and Tencent's denial when any resource is
not allowed. Nothing has run yet when this refuses, so a refused batch changes nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from minicvm.accounts import Account
from minicvm.domain import policy, presets
from minicvm.errors import ApiError
from minicvm.principals import Principal, PrincipalKind
from minicvm.services.permissions import DECLARATIONS, Declaration, Kind, actions_by_namespace
from minicvm.services.tag import resources as taggables
from minicvm.store.db import Store
from minicvm.store.tables import (
    cam_group_members,
    cam_group_policies,
    cam_policies,
    cam_role_policies,
    cam_user_policies,
)

KNOWN_ACTIONS = actions_by_namespace()
# Tencent answers a CAM denial of these products with the product's own code, of the others (Tag, CAM) with
# the gateway's; TAT lists a code of its own on every action.
PRODUCT_CODE_NAMESPACES = frozenset({"cvm", "vpc", "clb", "as", "sts"})
TAT_CODE = "UnauthorizedOperation.CamAuthFailed"


def compile_document(document: str, owner_uin: str) -> policy.Policy:
    return policy.parse(document, owner_uin, KNOWN_ACTIONS)


def compile_trust(document: str) -> policy.TrustPolicy:
    return policy.parse_trust(document, KNOWN_ACTIONS)


_PRESETS = {p.policy_id: policy.parse(p.document, "", KNOWN_ACTIONS) for p in presets.PRESETS}
_compiled: dict[tuple[int, int], policy.Policy] = {}


def _compiled_rows(account: Account, rows: Iterable[tuple[int, int | None, str | None]]) -> list[policy.Policy]:
    found = []
    for policy_id, version, document in rows:
        if policy_id in _PRESETS:
            found.append(_PRESETS[policy_id])
        elif document is not None and version is not None:
            key = (policy_id, version)
            compiled = _compiled.get(key)
            if compiled is None:
                compiled = _compiled[key] = compile_document(document, account.uin)
            found.append(compiled)
    return found


_attached: dict[tuple[int, str, str], tuple[Any, list[policy.Policy]]] = {}


def attached_policies(store: Store, account: Account, principal: Principal) -> list[policy.Policy]:
    """The policies of a sub-user, or of the role a session assumed; each compiled the first time its version
    is seen. Remembered per principal while the store is unchanged (where the store can tell)."""
    key = (account.id, principal.kind.value, principal.role_id or principal.uin)
    generation = store.generation()
    cached = _attached.get(key)
    if cached is not None and generation is not None and cached[0] == generation:
        return cached[1]
    found = _load_attached(store, account, principal)
    if generation is not None:
        if len(_attached) >= 1024:
            _attached.clear()
        _attached[key] = (generation, found)
    return found


def _load_attached(store: Store, account: Account, principal: Principal) -> list[policy.Policy]:
    ids: sa.Subquery
    if principal.kind is PrincipalKind.ASSUMED_ROLE:
        ids = (sa.select(cam_role_policies.c.policy_id)
               .where(cam_role_policies.c.role_id == principal.role_id, cam_role_policies.c.account_id == account.id)
               .subquery())
    else:  # the user's own policies and those of its groups
        own = sa.select(cam_user_policies.c.policy_id).where(cam_user_policies.c.user_uin == principal.uin,
                                                             cam_user_policies.c.account_id == account.id)
        grouped = (sa.select(cam_group_policies.c.policy_id)
                   .join(cam_group_members, cam_group_members.c.group_id == cam_group_policies.c.group_id)
                   .where(cam_group_members.c.user_uin == principal.uin,
                          cam_group_policies.c.account_id == account.id))
        ids = sa.union(own, grouped).subquery()
    query = (sa.select(ids.c.policy_id, cam_policies.c.version, cam_policies.c.document)
             .select_from(ids.outerjoin(cam_policies, cam_policies.c.policy_id == ids.c.policy_id)))
    with store.read() as conn:
        rows = conn.execute(query).all()
    return _compiled_rows(account, rows)


_sessions: dict[str, policy.Policy] = {}


def session_policy(document: str, owner_uin: str) -> policy.Policy:
    """A role session's inline policy, compiled once per document (they are few and short-lived)."""
    compiled = _sessions.get(document)
    if compiled is None:
        if len(_sessions) > 1024:
            _sessions.clear()
        compiled = _sessions[document] = compile_document(document, owner_uin)
    return compiled


def _values(obj: Any, path: list[str]) -> Iterator[Any]:
    """Every value at a dotted field path; lists on the way are walked element by element."""
    if obj is None:
        return
    if isinstance(obj, list):
        for item in obj:
            yield from _values(item, path)
        return
    if not path:
        yield obj
        return
    yield from _values(getattr(obj, path[0], None), path[1:])


def _tag_pairs(obj: Any) -> Iterator[str]:
    if isinstance(obj, list):
        for item in obj:
            yield from _tag_pairs(item)
    elif getattr(obj, "Tags", None) is not None:
        yield from _tag_pairs(obj.Tags)
    elif obj is not None:
        key = getattr(obj, "Key", None) or getattr(obj, "TagKey", None)
        value = getattr(obj, "Value", None) or getattr(obj, "TagValue", "")
        if key is not None:
            yield f"{key}&{value}"


def _named(name: str) -> policy.Resource:
    parts = name.split(":", 5)
    if len(parts) != 6:
        return policy.Resource(name)
    _qcs, _project, service_type, region, account, path = parts
    return policy.Resource(name, service_type, region, account, path)


def requested_resources(store: Store, account: Account, region: str, declaration: Declaration,
                        request: BaseModel) -> list[policy.Resource]:
    """The resources the request touches, in request order. Ids the account does not own are left out: the
    handler answers them NotFound, as it does for every caller, so no other account's ids are revealed."""
    if not declaration.touches:
        return [policy.Resource.anything()]
    out: list[policy.Resource] = []
    for touch in declaration.touches:
        kind = touch.kind
        if not touch.fields:
            out.append(policy.Resource.named(kind.service_type, region, account.uin, f"{kind.prefix}/*"))
            continue
        ids = [str(v) for f in touch.fields for v in _values(request, f.split(".")) if v]
        if kind is Kind.NAMED:
            out.extend(_named(i) for i in ids)
            continue
        taggable = taggables.find(kind.service_type, kind.prefix)
        if taggable is None:
            out.extend(policy.Resource.named(kind.service_type, region, account.uin, f"{kind.prefix}/{i}")
                       for i in ids)
            continue
        with store.read() as conn:
            owned = taggables.load(conn, account.id, taggable, ids)
        for resource_id in dict.fromkeys(ids):
            tagged = owned.get(resource_id)
            if tagged is not None:
                out.append(policy.Resource.named(kind.service_type, tagged.region, account.uin,
                                                 f"{kind.prefix}/{resource_id}",
                                                 (f"{k}&{v}" for k, v in tagged.tags.items())))
    return out


def request_context(region: str, source_ip: str, request_tags: Iterable[str]) -> dict[str, tuple[str, ...]]:
    context = {"qcs:current_time": (datetime.now(UTC).isoformat(),), "qcs:requested_region": (region,),
               "cvm:region": (region,), "vpc:region": (region,), "qcs:request_tag": tuple(request_tags)}
    if source_ip:
        context["qcs:ip"] = (source_ip,)
    return {k: v for k, v in context.items() if any(v)}


def denial(namespace: str, action: str, resource: str, request_id: str) -> ApiError:
    code = ("UnauthorizedOperation" if namespace in PRODUCT_CODE_NAMESPACES
            else TAT_CODE if namespace == "tat" else "AuthFailure.UnauthorizedOperation")
    return ApiError(code, f"[request id:{request_id}]you are not authorized to perform operation "
                          f"({namespace}:{action})\nresource ({resource}) has no permission\n")


def authorize(store: Store, account: Account, principal: Principal, region: str, request_id: str,
              service_name: str, action_name: str, request: BaseModel, source_ip: str) -> None:
    declaration = DECLARATIONS.get((service_name, action_name))
    namespace = declaration.namespace if declaration is not None else service_name
    if declaration is None:
        raise denial(namespace, action_name, "*", request_id)
    if declaration.public:
        return
    resources = requested_resources(store, account, region, declaration, request)
    tags = [t for f in declaration.request_tags for t in _tag_pairs(list(_values(request, f.split("."))))]
    context = request_context(region, source_ip, tags)
    action = f"{namespace}:{action_name}"
    denied = policy.denied_resource(attached_policies(store, account, principal), action, resources, context)
    if denied is None and principal.session_policy:
        # The inline policy of AssumeRole narrows the role: both must allow.
        denied = policy.denied_resource([session_policy(principal.session_policy, account.uin)], action, resources,
                                        context)
    if denied is not None:
        raise denial(namespace, action_name, denied.name, request_id)
