"""GetCallerIdentity: what tools call first to learn the account they act in."""

from __future__ import annotations

from typing import Any

from minicvm.principals import Principal
from minicvm.services.context import Context
from minicvm.services.sts import models as m
from minicvm.services.sts.service import STS


def caller_identity(principal: Principal) -> dict[str, Any]:
    return {"Arn": principal.arn, "AccountId": principal.owner_uin, "UserId": principal.user_id,
            "PrincipalId": principal.uin, "Type": principal.identity_type.value}


@STS.action("GetCallerIdentity", m.GetCallerIdentity)
async def get_caller_identity(ctx: Context, req: m.GetCallerIdentity) -> dict[str, Any]:
    return caller_identity(ctx.caller)
