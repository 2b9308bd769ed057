"""Turning the wire's body or query string into the parameters' dict (validated against the action's
request model in services/validation.py)."""

from __future__ import annotations

from typing import Any

import orjson

from minicvm.errors import ApiError
from minicvm.services.validation import MAX_DEPTH

# A GET key names one value per dotted level.
MAX_KEY_PARTS = MAX_DEPTH


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
        parts = key.split(".", MAX_KEY_PARTS)
        if len(parts) > MAX_KEY_PARTS:
            raise ApiError("InvalidParameter", f"The parameter name `{key[:64]}…` nests deeper than {MAX_DEPTH} levels.")
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
    if node and all(k.isascii() and k.isdigit() for k in node):
        indexes = sorted(int(k) for k in node)
        if indexes != list(range(len(indexes))):
            raise ApiError("InvalidParameter", f"The list parameter `{path}` must be numbered from 0 without gaps.")
        return [_lists(node[str(i)], f"{path}.{i}") for i in indexes]
    return {k: _lists(v, f"{path}.{k}" if path else k) for k, v in node.items()}
