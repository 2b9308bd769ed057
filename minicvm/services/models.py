"""Request-model building blocks shared by every service: strict JSON types, unknown fields refused."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from minicvm.domain.states import StoppedMode, StopType


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


def _wire_enum(enum: type[StrEnum]) -> BeforeValidator:
    """A JSON string becomes the domain's enum here, so that a value outside the enumeration is refused in
    one place with one message naming the accepted values (InvalidParameterValue); a value that is not a
    string at all stays a wrong type (InvalidParameter)."""
    accepted = ", ".join(enum)

    def parse(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return enum(value)
            except ValueError:
                raise PydanticCustomError("enum", "it must be one of {accepted}; got '{given}'",
                                          {"accepted": accepted, "given": value}) from None
        return value

    return BeforeValidator(parse)


WireStopType = Annotated[StopType, _wire_enum(StopType)]
WireStoppedMode = Annotated[StoppedMode, _wire_enum(StoppedMode)]

# Parameters the SDK can send for features minicvm does not model; accepted so the shape is valid,
# refused with UnsupportedOperation when actually set (see services/cvm/instances.py).
Opaque = Any
