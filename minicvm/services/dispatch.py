"""Running one action for an authenticated caller. The signed API and the console both come here, so
every rule lives once, behind the action handlers."""

from __future__ import annotations

from typing import Any

import orjson

from minicvm.accounts import Account
from minicvm.domain.catalog import REGIONS
from minicvm.errors import ApiError
from minicvm.principals import Principal, PrincipalKind
from minicvm.services.authorization import authorize
from minicvm.services.cloudaudit import trail
from minicvm.services.context import Context, Platform
from minicvm.services.registry import SERVICES, Service
from minicvm.services.validation import validate


def find_action(service_name: str, action_name: str) -> Any:
    service = SERVICES.get(service_name)
    if service is None:
        raise ApiError("NoSuchProduct", f"The product `{service_name}` does not exist here.")
    action = service.actions.get(action_name)
    if action is None:
        raise ApiError("InvalidAction", f"The action `{action_name}` does not exist for {service.name}.")
    return action


# Actions that answer the same in every region, so the request need not name one.
REGION_FREE_ACTIONS = frozenset({"DescribeRegions"})


def check_region(service: Service, action_name: str, region: str) -> None:
    """Every caller (signed API, console) passes here: a made-up region must never reach a handler,
    whose per-region tables and quotas would otherwise be keyed by it."""
    if not service.regional or action_name in REGION_FREE_ACTIONS:
        return
    if not region:
        raise ApiError("MissingParameter", "The request is missing the required parameter `Region`.")
    if region not in REGIONS:
        raise ApiError("UnsupportedRegion", f"The region `{region}` is not supported; see DescribeRegions.")


# Listings that automation polls while it waits. Their answers depend on the store alone (not, say, on
# live CLB health), so an answer stays right until the store changes.
CACHEABLE = frozenset({("cvm", "DescribeInstances"), ("cvm", "DescribeInstancesStatus"), ("cbs", "DescribeDisks"),
                       ("vpc", "DescribeAddresses")})
CACHE_SIZE = 512


class ListingCache:
    """Answers of CACHEABLE actions, valid while the store's generation is unchanged (any write anywhere
    invalidates all of them). Callers get a shallow copy, so adding a RequestId does not touch the cache."""

    def __init__(self) -> None:
        self.entries: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}

    def get(self, key: tuple[Any, ...], generation: Any) -> dict[str, Any] | None:
        found = self.entries.get(key)
        return dict(found[1]) if found is not None and found[0] == generation else None

    def put(self, key: tuple[Any, ...], generation: Any, result: dict[str, Any]) -> None:
        if len(self.entries) >= CACHE_SIZE:
            self.entries.clear()
        self.entries[key] = (generation, result)


async def invoke(cloud: Platform, account: Account, region: str, request_id: str, service_name: str, action_name: str,
                 data: dict[str, Any], *, strict: bool = True, language: str = "en-US",
                 cache: ListingCache | None = None, principal: Principal | None = None,
                 source_ip: str = "") -> dict[str, Any]:
    """`principal` None is the account's root key, which owns everything and skips CAM entirely."""
    action = find_action(service_name, action_name)
    check_region(SERVICES[service_name], action_name, region)
    request_model = validate(action.model, data, strict=strict)
    if principal is not None and principal.kind is not PrincipalKind.ROOT:
        try:
            authorize(cloud.store, account, principal, region, request_id, service_name, action_name,
                      request_model, source_ip)
        except ApiError as exc:
            trail.record(cloud.store, account, principal, region, request_id, service_name, action_name,
                         request_model, source_ip, exc.code)
            raise
    key = generation = None
    if cache is not None and (service_name, action_name) in CACHEABLE:
        generation = cloud.store.generation()
        if generation is not None:
            key = (account.id, region, service_name, action_name, orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
            hit = cache.get(key, generation)
            if hit is not None:
                return hit
    if trail.is_write(action_name):
        try:
            result = await action.handler(Context(cloud, account, region, request_id, language, principal),
                                          request_model)
        except ApiError as exc:
            trail.record(cloud.store, account, principal, region, request_id, service_name, action_name,
                         request_model, source_ip, exc.code)
            raise
        trail.record(cloud.store, account, principal, region, request_id, service_name, action_name,
                     request_model, source_ip, "")
        return result
    result = await action.handler(Context(cloud, account, region, request_id, language, principal), request_model)
    if key is not None:
        cache.put(key, generation, result)  # type: ignore[union-attr]
        return dict(result)
    return result
