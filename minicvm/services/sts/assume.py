"""AssumeRole: temporary credentials for a role of the caller's account, when the role's trust policy names
the caller (or its account's root). Requests signed with them must carry the token and act with the role's
policies, narrowed by the inline `Policy` if one was given, until they expire."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from minicvm.errors import ApiError
from minicvm.principals import PrincipalKind
from minicvm.services.authorization import compile_document, compile_trust
from minicvm.services.cam.backend import CamBackend
from minicvm.services.context import Context
from minicvm.services.sts import models as m
from minicvm.services.sts.service import STS

SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,128}$")
DEFAULT_SECONDS, MAX_SECONDS = 7200, 43200
_ROLE_ARN = re.compile(r"^qcs::cam::uin/(\d+):(roleName|role)/([\w+=,.@-]+)$")


def _bad(message: str) -> ApiError:
    return ApiError("InvalidParameter.ParamError", message)


@STS.action("AssumeRole", m.AssumeRole)
async def assume_role(ctx: Context, req: m.AssumeRole) -> dict[str, Any]:
    if not SESSION_NAME.match(req.RoleSessionName):
        raise _bad("`RoleSessionName` must be 2-128 characters of [\\w+=,.@-].")
    found = _ROLE_ARN.match(req.RoleArn)
    if found is None:
        raise _bad("`RoleArn` must be qcs::cam::uin/<uin>:roleName/<name> or qcs::cam::uin/<uin>:role/<roleId>.")
    owner, kind, ref = found.groups()
    backend = CamBackend(ctx)
    role = None
    if owner == ctx.account.uin:
        role = backend.role(ref, None) if kind == "role" else backend.role(None, ref)
    if role is None:
        raise ApiError("ResourceNotFound.RoleNotFound", f"The role {req.RoleArn} does not exist.")
    cap = min(MAX_SECONDS, role.session_duration or MAX_SECONDS)
    seconds = min(DEFAULT_SECONDS, cap) if req.DurationSeconds is None else req.DurationSeconds
    if seconds <= 0:
        raise _bad("`DurationSeconds` must be positive.")
    if seconds > cap:
        raise ApiError("InvalidParameter.OverTimeError", f"`DurationSeconds` may be at most {cap} for this role.")
    session_policy = ""
    if req.Policy:
        session_policy = unquote(req.Policy)
        if '"principal"' in session_policy:
            raise ApiError("InvalidParameter.StrategyFormatError", "The inline `Policy` must not name a principal.")
        try:
            compile_document(session_policy, ctx.account.uin)
        except ApiError as exc:
            raise ApiError("InvalidParameter.StrategyFormatError", f"The inline `Policy` is invalid: {exc.message}") \
                from None
    caller = ctx.caller
    if caller.kind is PrincipalKind.ASSUMED_ROLE:
        names = {f"qcs::cam::uin/{caller.owner_uin}:root"}  # a role session acts for its account
    else:
        names = {f"qcs::cam::uin/{caller.owner_uin}:root", f"qcs::cam::uin/{caller.owner_uin}:uin/{caller.uin}"}
    if not compile_trust(role.trust_policy).trusts(names):
        raise ApiError("UnauthorizedOperation",
                       f"The trust policy of role {role.name} does not let {caller.arn} assume it.")
    expires = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    secret_id, secret_key, token = backend.issue_credential(role, req.RoleSessionName, caller.uin, session_policy,
                                                            expires)
    return {"Credentials": {"Token": token, "TmpSecretId": secret_id, "TmpSecretKey": secret_key},
            "ExpiredTime": int(expires.timestamp()), "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
