"""Turning an action's parameters into its validated request model, with Tencent's error codes. The
signed API and the console both come through here (services/dispatch.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from minicvm import errors
from minicvm.errors import ApiError
from minicvm.services.common import check_number

_VALUE_ERRORS = {
    "literal_error", "enum", "greater_than", "greater_than_equal", "less_than", "less_than_equal",
    "string_too_long", "string_too_short", "too_long", "too_short", "string_pattern_mismatch", "value_error",
}


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


# Account and sub-user UINs (CAM) are 12-digit numbers, beyond 32 bits; the store keeps them as text, so these
# parameters may take any unsigned 64-bit value.
UIN_FIELDS = frozenset({"TargetUin", "AttachUin", "DetachUin", "Uin"})
UIN_MAX = 2**64 - 1

# Tencent's parameters nest a few levels at most (Filters.0.Values.1); deeper input is refused before
# anything recurses over it.
MAX_DEPTH = 16


def check_input(data: Any, where: str = "", depth: int = 0) -> None:
    """Rules for every value of every request, whatever its action: bounded nesting, numbers the store
    can hold, and no NUL character (PostgreSQL text cannot store one; no parameter needs one)."""
    if depth > MAX_DEPTH:
        raise ApiError("InvalidParameter", f"The request nests deeper than {MAX_DEPTH} levels at `{where}`.")
    if isinstance(data, str):
        if "\x00" in data:
            raise ApiError("InvalidParameterValue", f"The value of parameter `{where}` contains a NUL character.")
    elif isinstance(data, bool):
        return
    elif isinstance(data, int):
        if where.rpartition(".")[2] not in UIN_FIELDS:
            check_number(where, data)
        elif not 0 <= data <= UIN_MAX:
            raise ApiError("InvalidParameterValue", f"The value of parameter `{where}` is not a UIN.")
    elif isinstance(data, dict):
        for key, value in data.items():
            if "\x00" in key:
                raise ApiError("UnknownParameter", "A parameter name contains a NUL character.")
            check_input(value, f"{where}.{key}" if where else key, depth + 1)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            check_input(value, f"{where}.{i}", depth + 1)
    elif isinstance(data, BaseModel):
        for key, value in data.__dict__.items():
            check_input(value, f"{where}.{key}" if where else key, depth + 1)


def validate(model: type[BaseModel], data: dict[str, Any], strict: bool) -> BaseModel:
    check_input(data)
    try:
        result = model.model_validate(data, strict=strict)
    except ValidationError as exc:
        raise validation_error(exc) from None
    if not strict:
        check_input(result)  # strings of the query became numbers only now
    return result


def validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors(include_url=False)[0]
    where = _location(err["loc"])
    kind = err["type"]
    if kind == "missing":
        return errors.missing(where)
    if kind == "extra_forbidden":
        return ApiError("UnknownParameter", f"The parameter `{where}` is not recognized.")
    if kind in _VALUE_ERRORS:
        return ApiError("InvalidParameterValue", f"The value of parameter `{where}` is invalid: {err['msg']}.")
    return ApiError("InvalidParameter", f"The parameter `{where}` has the wrong type: {err['msg']}.")
