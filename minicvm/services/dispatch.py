"""Running one action for an authenticated caller. The signed API and the console both come here, so
every rule lives once, behind the action handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minicvm.accounts import Account
from minicvm.api import params
from minicvm.errors import ApiError
from minicvm.services.context import Context
from minicvm.services.registry import SERVICES

if TYPE_CHECKING:
    from minicvm.cloud import Cloud


def find_action(service_name: str, action_name: str) -> Any:
    service = SERVICES.get(service_name)
    if service is None:
        raise ApiError("NoSuchProduct", f"The product `{service_name}` does not exist here.")
    action = service.actions.get(action_name)
    if action is None:
        raise ApiError("InvalidAction", f"The action `{action_name}` does not exist for {service.name}.")
    return action


async def invoke(cloud: Cloud, account: Account, region: str, request_id: str, service_name: str, action_name: str,
                 data: dict[str, Any], *, strict: bool = True, language: str = "en-US") -> dict[str, Any]:
    action = find_action(service_name, action_name)
    request_model = params.validate(action.model, data, strict=strict)
    return await action.handler(Context(cloud, account, region, request_id, language), request_model)
