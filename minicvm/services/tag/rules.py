"""Tencent's rules for tag keys and values, the limits per request and per resource, and their error codes."""

from __future__ import annotations

from collections.abc import Sequence

from minicvm import errors
from minicvm.errors import ApiError

MAX_TAGS_PER_RESOURCE = 50
MAX_PER_REQUEST = 10  # tags, tag keys and resources in one write call
MAX_KEY_LENGTH = 127
MAX_VALUE_LENGTH = 255
# Keys the cloud keeps for itself. Tencent's own texts name two sets (`qcs:`, `project`, `项目` and
# `qcloud`, `tencent`, `project`); both are refused, so nothing accepted here is refused there.
RESERVED_KEY_PREFIXES = ("qcs:", "qcloud", "tencent", "project", "项目")
_PUNCTUATION = set("+-=._:/@()[],;><") | set("＋－＝／＠（）【】：")


def _legal(text: str) -> bool:
    if text != text.strip(" "):
        return False
    return all(ch.isalnum() or ch == " " or ch in _PUNCTUATION for ch in text)


def check_key(key: str) -> None:
    if not key:
        raise ApiError("InvalidParameterValue.TagKeyEmpty", "A tag key must not be empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError("InvalidParameterValue.TagKeyLengthExceeded",
                       f"The tag key {key[:32]!r}… is {len(key)} characters long; at most {MAX_KEY_LENGTH} are allowed.")
    if not _legal(key):
        raise ApiError("InvalidParameterValue.TagKeyCharacterIllegal",
                       f"The tag key {key!r} may contain letters, digits, inner spaces and + - = . _ : / @ ( ) [ ] , ; > < "
                       "only.")
    if key.lower().startswith(RESERVED_KEY_PREFIXES):
        raise ApiError("InvalidParameter.ReservedTagKey",
                       f"The tag key {key!r} is reserved: keys may not start with {', '.join(RESERVED_KEY_PREFIXES)}.")


def check_value(key: str, value: str) -> None:
    if not value:
        raise ApiError("InvalidParameterValue.TagValueEmpty", f"The value of tag {key!r} must not be empty.")
    if len(value) > MAX_VALUE_LENGTH:
        raise ApiError("InvalidParameterValue.TagValueLengthExceeded",
                       f"The value of tag {key!r} is {len(value)} characters long; at most {MAX_VALUE_LENGTH} are allowed.")
    if not _legal(value):
        raise ApiError("InvalidParameterValue.TagValueCharacterIllegal",
                       f"The value {value!r} of tag {key!r} may contain letters, digits, inner spaces and "
                       "+ - = . _ : / @ ( ) [ ] , ; > < only.")


def check_pairs(pairs: Sequence[tuple[str, str]], field: str = "Tags") -> dict[str, str]:
    """Tags to bind in one request, as {key: value}: each valid, at most ten, no key twice."""
    if not pairs:
        raise errors.missing(field)
    if len(pairs) > MAX_PER_REQUEST:
        raise ApiError("LimitExceeded.TagNumPerRequest",
                       f"`{field}` takes at most {MAX_PER_REQUEST} tags per request; {len(pairs)} were given.")
    result: dict[str, str] = {}
    for key, value in pairs:
        check_key(key)
        check_value(key, value)
        if key in result:
            raise ApiError("InvalidParameterValue.TagKeyDuplicate", f"The tag key {key!r} appears twice in `{field}`.")
        result[key] = value
    return result


def check_keys(keys: Sequence[str], field: str = "TagKeys", limit: int = MAX_PER_REQUEST) -> list[str]:
    if not keys:
        raise errors.missing(field)
    if len(keys) > limit:
        raise ApiError("LimitExceeded.TagNumPerRequest",
                       f"`{field}` takes at most {limit} tag keys per request; {len(keys)} were given.")
    for key in keys:
        check_key(key)
    if len(set(keys)) != len(keys):
        raise ApiError("InvalidParameterValue.TagKeyDuplicate", f"`{field}` names a tag key twice.")
    return list(keys)


def check_resource_count(names: Sequence[str], field: str = "ResourceList") -> None:
    if not names:
        raise errors.missing(field)
    if len(names) > MAX_PER_REQUEST:
        raise ApiError("LimitExceeded.ResourceNumPerRequest",
                       f"`{field}` takes at most {MAX_PER_REQUEST} resources per request; {len(names)} were given.")


def check_attached_count(resource: str, count: int) -> None:
    if count > MAX_TAGS_PER_RESOURCE:
        raise ApiError("LimitExceeded.ResourceAttachedTags",
                       f"{resource} would carry {count} tags; a resource carries at most {MAX_TAGS_PER_RESOURCE}.")


# The codes CVM uses for the same rules when tags come with RunInstances (TagSpecification).
CVM_CODES = {
    "InvalidParameter.ReservedTagKey": "FailedOperation.TagKeyReserved",
    "InvalidParameterValue.TagKeyEmpty": "FailedOperation.IllegalTagKey",
    "InvalidParameterValue.TagKeyLengthExceeded": "FailedOperation.IllegalTagKey",
    "InvalidParameterValue.TagKeyCharacterIllegal": "FailedOperation.IllegalTagKey",
    "InvalidParameterValue.TagValueEmpty": "FailedOperation.IllegalTagValue",
    "InvalidParameterValue.TagValueLengthExceeded": "FailedOperation.IllegalTagValue",
    "InvalidParameterValue.TagValueCharacterIllegal": "FailedOperation.IllegalTagValue",
    "InvalidParameterValue.TagKeyDuplicate": "InvalidParameterValue.DuplicateTags",
    "LimitExceeded.ResourceAttachedTags": "InvalidParameterValue.TagQuotaLimitExceeded",
}


def check_new_resource_tags(pairs: Sequence[tuple[str, str]], codes: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Tags given to a resource as it is made (RunInstances, CreateDisks, AllocateAddresses): the Tag service's
    rules, so that nothing the Tag service would refuse gets in by the side door; `codes` renames the errors
    for products that report them under their own codes. Returns them as [{Key, Value}]."""
    try:
        seen: dict[str, str] = {}
        for key, value in pairs:
            check_key(key)
            check_value(key, value)
            if key in seen:
                raise ApiError("InvalidParameterValue.TagKeyDuplicate", f"The tag key {key!r} is given twice.")
            seen[key] = value
        check_attached_count("A new resource", len(seen))
    except ApiError as exc:
        raise ApiError((codes or {}).get(exc.code, exc.code), exc.message) from None
    return [{"Key": k, "Value": v} for k, v in seen.items()]
