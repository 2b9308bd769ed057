"""Compare a JSON response with the official Python SDK's model of it, field by field.

The SDK's models name every attribute in `__init__` (`self._InstanceSet = None`) and document its type
there (`:type InstanceSet: list of Instance`, `:type Placement: :class:`tencentcloud...models.Placement``).
A typed client in another language (Go, Java, Rust) decodes exactly those names into exactly those types,
so a missing field, a string where a number is declared or `null` where a list is declared breaks it."""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

_TYPE_LINE = re.compile(r":type (\w+): (.+)")
_CLASS_REF = re.compile(r":class:`[\w.]+\.models\.(\w+)`")

# SDK scalar type name → the JSON values it accepts (bool is not an int here: Go and Java say so too).
_SCALARS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}


@dataclass(frozen=True)
class FieldType:
    is_list: bool
    scalar: str | None  # "str", "int", "float", "bool"; None for a struct
    struct: str | None  # the model class name of a struct (or of a list's elements)


@cache
def models_module(module: str) -> Any:
    return importlib.import_module(module)


@cache
def model_fields(module: str, model: str) -> dict[str, FieldType]:
    """Every attribute of one SDK model and its documented type, in declaration order."""
    cls = getattr(models_module(module), model)
    declared = [name[1:] for name in vars(cls())]
    doc = inspect.getdoc(cls.__init__) or ""
    types = {m.group(1): m.group(2).strip() for line in doc.splitlines() if (m := _TYPE_LINE.match(line.strip()))}
    result = {}
    for name in declared:
        result[name] = _parse(types.get(name, ""), f"{model}.{name}")
    return result


def _parse(text: str, where: str) -> FieldType:
    is_list = text.startswith("list of ")
    inner = text[len("list of "):] if is_list else text
    inner = inner.split()[0] if inner else inner  # "int non-negative" is an int
    ref = _CLASS_REF.match(inner)
    if ref:
        return FieldType(is_list, None, ref.group(1))
    if inner in _SCALARS:
        return FieldType(is_list, inner, None)
    if is_list and inner[:1].isupper():
        return FieldType(True, None, inner)
    raise AssertionError(f"{where}: unknown SDK type {text!r}")


@dataclass
class Report:
    """What one or more responses lacked or got wrong, by model path (`Instance.SystemDisk.DiskName`)."""

    missing: set[str] = field(default_factory=set)
    wrong: dict[str, str] = field(default_factory=dict)
    # Struct fields seen only as null: their insides were never checked.
    null_structs: set[str] = field(default_factory=set)
    seen_structs: set[str] = field(default_factory=set)
    # Lists of structs seen only empty: their elements' fields were never checked either.
    empty_lists: set[str] = field(default_factory=set)

    def unchecked_lists(self) -> set[str]:
        return self.empty_lists - self.seen_structs

    def problems(self, may_be_null: frozenset[str] = frozenset()) -> list[str]:
        never = self.null_structs - self.seen_structs - may_be_null
        return ([f"missing {p}" for p in sorted(self.missing)]
                + [f"wrong type {p}: {why}" for p, why in sorted(self.wrong.items())]
                + [f"never seen other than null (struct unchecked) {p}" for p in sorted(never)])


def check(report: Report, module: str, model: str, value: Any, path: str = "") -> None:
    """Record in `report` how `value` (a decoded JSON object) differs from the SDK model `model`."""
    path = path or model
    if not isinstance(value, dict):
        report.wrong[path] = f"expected an object ({model}), got {type(value).__name__}"
        return
    for name, ftype in model_fields(module, model).items():
        where = f"{model}.{name}"
        if name not in value:
            report.missing.add(where)
            continue
        _check_value(report, module, ftype, value[name], where)


def _check_value(report: Report, module: str, ftype: FieldType, value: Any, where: str) -> None:
    if value is None:
        if ftype.is_list:
            report.wrong[where] = "null where the SDK declares a list"
        elif ftype.struct:
            report.null_structs.add(where)
        return
    if ftype.is_list:
        if not isinstance(value, list):
            report.wrong[where] = f"expected a list, got {type(value).__name__}"
            return
        if not value and ftype.struct:
            report.empty_lists.add(where)
        for item in value:
            _check_item(report, module, ftype, item, where)
        return
    _check_item(report, module, ftype, value, where)


def _check_item(report: Report, module: str, ftype: FieldType, item: Any, where: str) -> None:
    if ftype.struct:
        report.seen_structs.add(where)
        check(report, module, ftype.struct, item, where)
        return
    assert ftype.scalar is not None
    allowed = _SCALARS[ftype.scalar]
    if item is None or isinstance(item, bool) and bool not in allowed or not isinstance(item, allowed):
        report.wrong[where] = f"expected {ftype.scalar}, got {type(item).__name__} {item!r:.40}"
