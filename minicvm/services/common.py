"""Parameter rules every service shares: id lists, paging, filters, ClientToken."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from minicvm import errors, ids
from minicvm.errors import ApiError
from minicvm.services.models import Filter

# The store keeps numbers in 32-bit integer columns (PostgreSQL's `integer`), and no parameter of these
# APIs means anything beyond that range: a larger number is refused, rather than failing in SQL.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def check_number(name: str, value: int) -> None:
    if not INT_MIN <= value <= INT_MAX:
        raise ApiError("InvalidParameterValue",
                       f"The value of parameter `{name}` is out of range: {value} is not within [{INT_MIN}, {INT_MAX}].")


def check_ids(
    values: Sequence[str] | None,
    prefix: str,
    field: str,
    malformed_code: str,
    limit: int = 100,
    required: bool = True,
) -> list[str]:
    values = list(values or [])
    if required and not values:
        raise errors.missing(field)
    if len(values) > limit:
        raise ApiError("InvalidParameterValue.LimitExceeded",
                       f"`{field}` takes at most {limit} ids per request; {len(values)} were given.")
    bad = [v for v in values if not ids.is_well_formed(v, prefix)]
    if bad:
        raise ApiError(malformed_code, f"The ids {bad} in `{field}` are malformed; expected {prefix}-xxxxxxxx.")
    if len(set(values)) != len(values):
        dupes = sorted({v for v in values if values.count(v) > 1})
        raise ApiError("InvalidParameterValue.Duplicate", f"`{field}` contains duplicate ids: {dupes}.")
    return values


def paging(offset: int | None, limit: int | None, default: int = 20, maximum: int = 100) -> tuple[int, int]:
    offset = 0 if offset is None else offset
    limit = default if limit is None else limit
    if offset < 0:
        raise ApiError("InvalidParameterValue", f"`Offset` must not be negative; got {offset}.")
    check_number("Offset", offset)
    if limit < 0 or limit > maximum:
        raise ApiError("InvalidParameterValue.LimitExceeded", f"`Limit` must be between 0 and {maximum}; got {limit}.")
    return offset, limit


def check_filters(
    filters: Sequence[Filter] | None,
    known: Iterable[str],
    *,
    unknown_code: str = "InvalidFilter",
    max_filters: int = 10,
    max_values: int = 5,
    values_code: str = "InvalidFilterValue.LimitExceeded",
    prefixes: tuple[str, ...] = ("tag:",),
) -> dict[str, list[str]]:
    """Filters as {name: values}: different names AND, values inside one name OR."""
    known = set(known)
    result: dict[str, list[str]] = {}
    filters = list(filters or [])
    if len(filters) > max_filters:
        raise ApiError(values_code, f"At most {max_filters} filters are allowed; {len(filters)} were given.")
    for f in filters:
        if f.Name not in known and not any(f.Name.startswith(p) for p in prefixes):
            raise ApiError(unknown_code, f"The filter `{f.Name}` is not supported; supported: {sorted(known)}.")
        if len(f.Values) > max_values:
            raise ApiError(values_code, f"The filter `{f.Name}` takes at most {max_values} values.")
        result.setdefault(f.Name, []).extend(f.Values)
    return result


def tags_match(tags: list[dict[str, str]], wanted: dict[str, list[str]]) -> bool:
    """tag-key / tag-value / tag:<key> filters over a resource's [{Key, Value}] list."""
    pairs = {(t["Key"], t["Value"]) for t in tags}
    keys = {k for k, _ in pairs}
    values = {v for _, v in pairs}
    for name, vals in wanted.items():
        if name == "tag-key" and not keys & set(vals):
            return False
        if name == "tag-value" and not values & set(vals):
            return False
        if name.startswith("tag:") and not any((name[4:], v) in pairs for v in vals):
            return False
    return True


def tag_filters(filters: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(the tag-key / tag-value / tag:<key> filters, the others)."""
    tags = {k: v for k, v in filters.items() if k in ("tag-key", "tag-value") or k.startswith("tag:")}
    return tags, {k: v for k, v in filters.items() if k not in tags}


def tag_filtered_ids(conn: sa.Connection, table: sa.Table, where: list[Any], wanted: dict[str, list[str]]) -> Any:
    """A condition keeping the rows (of those `where` selects) whose {Key, Value} tags column passes the
    tag-key / tag-value / tag:<key> filters in `wanted` (checked here: JSON is not portable SQL)."""
    rows = conn.execute(sa.select(table.c.id, table.c.tags).where(*where))
    return table.c.id.in_([r.id for r in rows if tags_match(list(r.tags), wanted)])


def check_client_token(token: str | None, code: str = "InvalidClientToken.TooLong") -> None:
    if token is not None and (len(token) > 64 or not token.isascii()):
        raise ApiError(code, "`ClientToken` must be at most 64 ASCII characters.")
