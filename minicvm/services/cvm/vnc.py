"""DescribeInstanceVncUrl: where the console's "Log in" window connects for a running instance. Tencent
answers a URL-encoded websocket URL; minicvm's is the console's terminal socket for the instance, which
takes the console session of the instance's account (sign in to the console first)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from minicvm.domain import lifecycle as lc
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm.service import CVM
from minicvm.store.tables import instances


@CVM.action("DescribeInstanceVncUrl", m.DescribeInstanceVncUrl)
async def describe_instance_vnc_url(ctx: Context, req: m.DescribeInstanceVncUrl) -> dict[str, Any]:
    (instance_id,) = common.check_ids([req.InstanceId], "ins", "InstanceId", "InvalidInstanceId.Malformed")
    with ctx.cloud.store.read() as conn:
        state = conn.execute(sa.select(instances.c.state).where(
            instances.c.id == instance_id, instances.c.account_id == ctx.account.id,
            instances.c.region == ctx.region)).scalar()
    if state is None:
        raise ApiError("InvalidInstanceId.NotFound", f"The instance {instance_id} does not exist.")
    if state != lc.RUNNING:
        raise ApiError(lc.state_code(state), f"The instance {instance_id} is {state}: its console is off.")
    settings = ctx.cloud.settings
    url = f"ws://{settings.host}:{settings.port}/console/instances/{instance_id}/terminal/ws"
    return {"InstanceVncUrl": quote(url, safe="")}
