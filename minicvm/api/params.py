"""Turning the wire's parameters into a validated request model, with Tencent's error codes."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from minicvm.errors import ApiError

_VALUE_ERRORS = {
    "literal_error", "enum", "greater_than", "greater_than_equal", "less_than", "less_than_equal",
    "string_too_long", "string_too_short", "too_long", "too_short", "string_pattern_mismatch", "value_error",
}


def parse_json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError("InvalidRequest", f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise ApiError("InvalidRequest", "The request body must be a JSON object.")
    return data


def unflatten_query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`Filters.0.Values.1=x` → {"Filters": [{"Values": [.., "x"]}]} — the SDK's GET encoding."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ApiError("InvalidParameter", f"The parameter `{key}` conflicts with another parameter.")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise ApiError("InvalidParameter", f"The parameter `{key}` conflicts with another parameter.")
        node[parts[-1]] = value
    return _lists(root, "")


def _lists(node: Any, path: str) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        indexes = sorted(int(k) for k in node)
        if indexes != list(range(len(indexes))):
            raise ApiError("InvalidParameter", f"The list parameter `{path}` must be numbered from 0 without gaps.")
        return [_lists(node[str(i)], f"{path}.{i}") for i in indexes]
    return {k: _lists(v, f"{path}.{k}" if path else k) for k, v in node.items()}


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def validate(model: type[BaseModel], data: dict[str, Any], strict: bool) -> BaseModel:
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors(include_url=False)[0]
    where = _location(err["loc"])
    kind = err["type"]
    if kind == "missing":
        return ApiError("MissingParameter", f"The request is missing a required parameter `{where}`.")
    if kind == "extra_forbidden":
        return ApiError("UnknownParameter", f"The parameter `{where}` is not recognized.")
    if kind in _VALUE_ERRORS:
        return ApiError("InvalidParameterValue", f"The value of parameter `{where}` is invalid: {err['msg']}.")
    return ApiError("InvalidParameter", f"The parameter `{where}` has the wrong type: {err['msg']}.")
