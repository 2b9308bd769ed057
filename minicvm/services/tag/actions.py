"""The Tag service's actions over the resources' own tags (see resources.py): binding and unbinding, and the
read side (which resources carry which tags, which keys and values exist)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from minicvm import errors, ids
from minicvm.domain.catalog import REGIONS
from minicvm.errors import ApiError
from minicvm.services.context import Context
from minicvm.services.tag import models as m
from minicvm.services.tag import names, rules
from minicvm.services.tag import resources as res
from minicvm.services.tag.names import ResourceName
from minicvm.services.tag.service import TAG

T = TypeVar("T")
CUSTOM = "Custom"
CATEGORIES = ("All", "Custom", "System")


def _tag(key: str, value: str) -> dict[str, str]:
    return {"TagKey": key, "TagValue": value, "Category": CUSTOM}


def _category_lists_custom(category: str | None) -> bool:
    """minicvm holds only the caller's own (Custom) tags: `System` lists nothing."""
    if category is not None and category not in CATEGORIES:
        raise ApiError("InvalidParameter", f"`Category` must be one of {', '.join(CATEGORIES)}; got {category!r}.")
    return category != "System"


def _page(items: Sequence[T], token: str | None, max_results: int | None, *, default: int = 50,
          maximum: int = 1000) -> tuple[list[T], str]:
    """One page and the token of the next ("" on the last). Tokens are opaque to callers."""
    size = default if max_results is None else max_results
    if not 1 <= size <= maximum:
        raise ApiError("InvalidParameter", f"`MaxResults` must be between 1 and {maximum}; got {size}.")
    start = 0
    if token:
        try:
            text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
            kind, _, number = text.partition(":")
            if kind != "minicvm-offset" or not number.isdigit() or int(number) > len(items):
                raise ValueError(text)
            start = int(number)
        except (ValueError, UnicodeError, binascii.Error):
            raise ApiError("InvalidParameter.PaginationTokenInvalid",
                           f"The pagination token {token!r} was not issued here.") from None
    end = start + size
    following = base64.urlsafe_b64encode(f"minicvm-offset:{end}".encode()).decode() if end < len(items) else ""
    return list(items[start:end]), following


def _parse_all(ctx: Context, values: Iterable[str]) -> list[ResourceName]:
    parsed = [names.parse(v, ctx.account.uin) for v in values]
    if len(set(parsed)) != len(parsed):
        raise ApiError("InvalidParameterValue.ResourceDescriptionError", "A resource is named twice.")
    return parsed


def _existing(conn: sa.Connection, ctx: Context, wanted: Sequence[ResourceName], *,
              for_update: bool = False) -> dict[ResourceName, res.Tagged]:
    """The named resources that exist in the caller's account, in the region their names say."""
    found: dict[ResourceName, res.Tagged] = {}
    for taggable in {n.taggable for n in wanted}:
        mine = [n for n in wanted if n.taggable is taggable]
        rows = res.load(conn, ctx.account.id, taggable, [n.resource_id for n in mine], for_update=for_update)
        for n in mine:
            row = rows.get(n.resource_id)
            if row is not None and row.region == n.region:
                found[n] = row
    return found


def _not_found(name: str) -> ApiError:
    return ApiError("InvalidParameterValue.ResourceIdInvalid", f"The resource {name} does not exist in your account.")


def _failed(name: str, error: ApiError) -> dict[str, str]:
    return {"Resource": name, "Code": error.code, "Message": error.message}


def _one(conn: sa.Connection, ctx: Context, value: str) -> res.Tagged:
    name = names.parse(value, ctx.account.uin)
    found = _existing(conn, ctx, [name], for_update=True).get(name)
    if found is None:
        raise _not_found(value)
    return found


# ---- binding ----

def _retag_each(ctx: Context, resources: list[str], retag: Callable[[dict[str, str]], dict[str, str] | None]
                ) -> dict[str, Any]:
    """The batch actions: each named resource gets `retag(its tags)` (None: leave it as it is); one that does
    not exist or may not take the new tags is reported in FailedResources, and the others still change."""
    targets = _parse_all(ctx, resources)
    failed: list[dict[str, str]] = []
    with ctx.cloud.store.write() as conn:
        found = _existing(conn, ctx, targets, for_update=True)
        for value, name in zip(resources, targets, strict=True):
            tagged = found.get(name)
            if tagged is None:
                failed.append(_failed(value, _not_found(value)))
                continue
            tags = retag(tagged.tags)
            if tags is None:
                continue
            try:
                rules.check_attached_count(value, len(tags))
                res.save(conn, ctx.account.id, tagged, tags)
            except ApiError as exc:
                failed.append(_failed(value, exc))
    return {"FailedResources": failed}


@TAG.action("TagResources", m.TagResources)
async def tag_resources(ctx: Context, req: m.TagResources) -> dict[str, Any]:
    rules.check_resource_count(req.ResourceList)
    wanted = rules.check_pairs([(t.TagKey, t.TagValue) for t in req.Tags])
    return _retag_each(ctx, req.ResourceList, lambda tags: {**tags, **wanted})


@TAG.action("UnTagResources", m.UnTagResources)
async def untag_resources(ctx: Context, req: m.UnTagResources) -> dict[str, Any]:
    rules.check_resource_count(req.ResourceList)
    keys = rules.check_keys(req.TagKeys)
    return _retag_each(ctx, req.ResourceList, lambda tags: {k: v for k, v in tags.items() if k not in keys}
                       if any(k in tags for k in keys) else None)


@TAG.action("AddResourceTag", m.AddResourceTag)
async def add_resource_tag(ctx: Context, req: m.AddResourceTag) -> dict[str, Any]:
    rules.check_key(req.TagKey)
    rules.check_value(req.TagKey, req.TagValue)
    with ctx.cloud.store.write() as conn:
        tagged = _one(conn, ctx, req.Resource)
        if req.TagKey in tagged.tags:
            raise ApiError("ResourceInUse.TagKeyAttached",
                           f"The tag key {req.TagKey!r} is already bound to {req.Resource}; use ModifyResourceTags "
                           "or TagResources to change its value.")
        tags = {**tagged.tags, req.TagKey: req.TagValue}
        rules.check_attached_count(req.Resource, len(tags))
        res.save(conn, ctx.account.id, tagged, tags)
    return {}


@TAG.action("DeleteResourceTag", m.DeleteResourceTag)
async def delete_resource_tag(ctx: Context, req: m.DeleteResourceTag) -> dict[str, Any]:
    rules.check_key(req.TagKey)
    with ctx.cloud.store.write() as conn:
        tagged = _one(conn, ctx, req.Resource)
        if req.TagKey not in tagged.tags:
            raise ApiError("ResourceNotFound.AttachedTagKeyNotFound",
                           f"The tag key {req.TagKey!r} is not bound to {req.Resource}.")
        res.save(conn, ctx.account.id, tagged, {k: v for k, v in tagged.tags.items() if k != req.TagKey})
    return {}


@TAG.action("ModifyResourceTags", m.ModifyResourceTags)
async def modify_resource_tags(ctx: Context, req: m.ModifyResourceTags) -> dict[str, Any]:
    if req.ReplaceTags is None and req.DeleteTags is None:
        raise ApiError("MissingParameter", "Give `ReplaceTags`, `DeleteTags` or both.")
    if req.ReplaceTags == [] or req.DeleteTags == []:
        raise ApiError("InvalidParameterValue", "`ReplaceTags` and `DeleteTags` may not be empty lists.")
    replace = rules.check_pairs([(t.TagKey, t.TagValue) for t in req.ReplaceTags], "ReplaceTags") if req.ReplaceTags else {}
    delete = rules.check_keys([t.TagKey for t in req.DeleteTags], "DeleteTags") if req.DeleteTags else []
    both = sorted(set(replace) & set(delete))
    if both:
        raise ApiError("InvalidParameterValue.DeleteTagsParamError",
                       f"The tag keys {both} are both in `ReplaceTags` and in `DeleteTags`.")
    with ctx.cloud.store.write() as conn:
        tagged = _one(conn, ctx, req.Resource)
        tags = {k: v for k, v in {**tagged.tags, **replace}.items() if k not in delete}
        rules.check_attached_count(req.Resource, len(tags))
        res.save(conn, ctx.account.id, tagged, tags)
    return {}


# ---- reading ----

def _matches(tags: res.TagSet, filters: Sequence[m.TagFilter]) -> bool:
    """Filters AND; the values inside one filter OR; a filter without values asks for the key only."""
    return all(f.TagKey in tags and (not f.TagValue or tags[f.TagKey] in f.TagValue) for f in filters)


@TAG.action("GetResources", m.GetResources)
async def get_resources(ctx: Context, req: m.GetResources) -> dict[str, Any]:
    filters = list(req.TagFilters or [])
    if len(filters) > 6:
        raise ApiError("LimitExceeded", f"`TagFilters` takes at most 6 filters; {len(filters)} were given.")
    for f in filters:
        rules.check_key(f.TagKey)
        if f.TagValue is not None and len(f.TagValue) > 10:
            raise ApiError("LimitExceeded", f"The filter on {f.TagKey!r} takes at most 10 values.")
    if req.ResourceList is not None and len(req.ResourceList) > rules.MAX_PER_REQUEST:
        raise ApiError("LimitExceeded.ResourceNumPerRequest",
                       f"`ResourceList` takes at most {rules.MAX_PER_REQUEST} resources; {len(req.ResourceList)} were given.")
    with ctx.cloud.store.read() as conn:
        if req.ResourceList:
            found = _existing(conn, ctx, _parse_all(ctx, req.ResourceList))
            candidates = [t for t in found.values() if t.tags]
        else:
            candidates = res.load_all(conn, ctx.account.id)
    matching = [t for t in candidates if _matches(t.tags, filters)]
    if req.ResourceList:  # all of the named resources, whatever MaxResults says
        page, following = matching, ""
    else:
        page, following = _page(matching, req.PaginationToken, req.MaxResults, maximum=200)
    uin = ctx.account.uin
    return {"PaginationToken": following, "ResourceTagMappingList": [
        {"Resource": names.format_name(t.taggable, t.region, uin, t.resource_id),
         "Tags": [_tag(k, v) for k, v in t.tags.items()]} for t in page]}


def _all_pairs(ctx: Context) -> list[tuple[str, str]]:
    """Every (key, value) bound anywhere in the account, sorted."""
    with ctx.cloud.store.read() as conn:
        tagged = res.load_all(conn, ctx.account.id)
    return sorted({pair for t in tagged for pair in t.tags.items()})


@TAG.action("GetTagKeys", m.GetTagKeys)
async def get_tag_keys(ctx: Context, req: m.GetTagKeys) -> dict[str, Any]:
    keys = sorted({k for k, _ in _all_pairs(ctx)}) if _category_lists_custom(req.Category) else []
    page, following = _page(keys, req.PaginationToken, req.MaxResults)
    return {"PaginationToken": following, "TagKeys": page}


@TAG.action("GetTagValues", m.GetTagValues)
async def get_tag_values(ctx: Context, req: m.GetTagValues) -> dict[str, Any]:
    keys = set(rules.check_keys(req.TagKeys, limit=20))
    pairs = [p for p in _all_pairs(ctx) if p[0] in keys] if _category_lists_custom(req.Category) else []
    page, following = _page(pairs, req.PaginationToken, req.MaxResults)
    return {"PaginationToken": following, "Tags": [_tag(k, v) for k, v in page]}


@TAG.action("GetTags", m.GetTags)
async def get_tags(ctx: Context, req: m.GetTags) -> dict[str, Any]:
    keys = set(rules.check_keys(req.TagKeys, limit=20)) if req.TagKeys else None
    pairs = _all_pairs(ctx) if _category_lists_custom(req.Category) else []
    if keys is not None:
        pairs = [p for p in pairs if p[0] in keys]
    page, following = _page(pairs, req.PaginationToken, req.MaxResults)
    return {"PaginationToken": following, "Tags": [_tag(k, v) for k, v in page]}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@TAG.action("DescribeResourceTagsByResourceIds", m.DescribeResourceTagsByResourceIds)
async def describe_resource_tags_by_resource_ids(ctx: Context, req: m.DescribeResourceTagsByResourceIds) -> dict[str, Any]:
    if req.ServiceType not in res.SERVICE_TYPES:
        raise ApiError("InvalidParameterValue.ServiceTypeInvalid",
                       f"The service type {req.ServiceType!r} has no taggable resources here; "
                       f"supported: {sorted(res.SERVICE_TYPES)}.")
    taggable = res.find(req.ServiceType, req.ResourcePrefix)
    if taggable is None:
        raise ApiError("InvalidParameterValue.ResourcePrefixInvalid",
                       f"{req.ResourcePrefix!r} is not a resource type of {req.ServiceType}.")
    if req.ResourceRegion not in REGIONS:
        raise ApiError("InvalidParameterValue.RegionInvalid", f"The region {req.ResourceRegion!r} does not exist.")
    if not req.ResourceIds:
        raise errors.missing("ResourceIds")
    if len(req.ResourceIds) > 50:
        raise ApiError("InvalidParameterValue.ResourceIdInvalid",
                       f"`ResourceIds` takes at most 50 ids; {len(req.ResourceIds)} were given.")
    bad = [i for i in req.ResourceIds if not ids.is_well_formed(i, taggable.id_prefix)]
    if bad:
        raise ApiError("InvalidParameterValue.ResourceIdInvalid",
                       f"The ids {bad} are not {taggable.prefix} ids ({taggable.id_prefix}-xxxxxxxx).")
    offset = 0 if req.Offset is None else req.Offset
    limit = 15 if req.Limit is None else req.Limit
    if limit < 1 or offset < 0 or offset % limit:
        raise ApiError("InvalidParameterValue",
                       f"`Limit` must be positive and `Offset` a multiple of it; got Offset {offset}, Limit {limit}.")
    with ctx.cloud.store.read() as conn:
        found = res.load(conn, ctx.account.id, taggable, list(dict.fromkeys(req.ResourceIds)), req.ResourceRegion)
    rows = []
    if _category_lists_custom(req.Category):
        rows = [{"TagKey": k, "TagValue": v, "ResourceId": resource_id, "TagKeyMd5": _md5(k), "TagValueMd5": _md5(v),
                 "ServiceType": taggable.service_type, "Category": CUSTOM}
                for resource_id in dict.fromkeys(req.ResourceIds) if resource_id in found
                for k, v in found[resource_id].tags.items()]
    return {"TotalCount": len(rows), "Offset": offset, "Limit": limit, "Tags": rows[offset:offset + limit]}
