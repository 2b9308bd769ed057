"""Request-model building blocks shared by every service: strict JSON types, unknown fields refused."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Req(BaseModel):
    """A request or nested structure: unknown fields are `UnknownParameter`, wrong JSON types are
    `InvalidParameter`; absent and null both mean "not given"."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Filter(Req):
    Name: str
    Values: list[str]


class Tag(Req):
    Key: str
    Value: str


class TagSpecification(Req):
    ResourceType: str
    Tags: list[Tag]


# Parameters the SDK can send for features minicvm does not model; accepted so the shape is valid,
# refused with UnsupportedOperation when actually set (see services/cvm/instances.py).
Opaque = Any
