"""Turning an action's parameters into its validated request model, with Tencent's error codes. The
signed API and the console both come through here (services/dispatch.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from minicvm.errors import ApiError

_VALUE_ERRORS = {
    "literal_error", "enum", "greater_than", "greater_than_equal", "less_than", "less_than_equal",
    "string_too_long", "string_too_short", "too_long", "too_short", "string_pattern_mismatch", "value_error",
}


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
