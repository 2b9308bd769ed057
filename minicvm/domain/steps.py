"""The steps an operation is carried out in, as typed values.

An operation row stores its plan as a list of steps; the runner (engine/runner.py) matches on the step's
class. Every step is idempotent: after a crash the runner simply runs the interrupted step again. Each step
carries what it needs, so the runner reads nothing from the request that made it.

Steps are stored as JSON in one tagged form, `{"step": "PowerOff", "stop_type": "SOFT", ...}` (a change
inside Apply likewise as `{"change": "GrowDisk", ...}`); `encode_steps` / `decode_steps` are the only code
that knows that form.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, ClassVar

from minicvm.domain.states import InstanceState, StoppedMode, StopType

S = InstanceState

# ---- what Apply changes (the "only while shut down" actions) ------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeInstanceType:
    instance_type: str


@dataclass(frozen=True, slots=True)
class GrowDisk:
    """A disk of the instance grows to `size` GiB (no disk: nothing to grow). `online` grows it while the
    instance runs (ResizeOnline), so no stop and start is planned around it."""

    disk_id: str | None
    size: int
    online: bool = False


@dataclass(frozen=True, slots=True)
class ResetPassword:
    password_hash: str
    changed_at: str  # ISO time, the moment the request was accepted
    login_user: str


@dataclass(frozen=True, slots=True)
class BindKeys:
    """Binding keys replaces the keys bound before and disables password login."""

    key_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnbindKeys:
    key_ids: tuple[str, ...]


Change = ChangeInstanceType | GrowDisk | ResetPassword | BindKeys | UnbindKeys

# ---- instance steps ---------------------------------------------------------------------------------
# `enters`: the state the instance is in while the step runs (None: it keeps its state).
# `ends_in`: the state the step leaves it in (None: the state it was in).


@dataclass(frozen=True, slots=True)
class Launch:
    enters: ClassVar[InstanceState | None] = S.PENDING
    ends_in: ClassVar[InstanceState | None] = S.RUNNING


@dataclass(frozen=True, slots=True)
class PowerOn:
    enters: ClassVar[InstanceState | None] = S.STARTING
    ends_in: ClassVar[InstanceState | None] = S.RUNNING


@dataclass(frozen=True, slots=True)
class PowerOff:
    stop_type: StopType
    stopped_mode: StoppedMode
    enters: ClassVar[InstanceState | None] = S.STOPPING
    ends_in: ClassVar[InstanceState | None] = S.STOPPED


@dataclass(frozen=True, slots=True)
class Reboot:
    stop_type: StopType
    enters: ClassVar[InstanceState | None] = S.REBOOTING
    ends_in: ClassVar[InstanceState | None] = S.RUNNING


@dataclass(frozen=True, slots=True)
class Apply:
    change: Change
    enters: ClassVar[InstanceState | None] = None
    ends_in: ClassVar[InstanceState | None] = None


@dataclass(frozen=True, slots=True)
class Isolate:
    """A prepaid instance's first TerminateInstances: powered off and put in the recycle bin."""

    enters: ClassVar[InstanceState | None] = S.TERMINATING
    ends_in: ClassVar[InstanceState | None] = S.SHUTDOWN


@dataclass(frozen=True, slots=True)
class Destroy:
    release_address: bool = False
    enters: ClassVar[InstanceState | None] = S.TERMINATING
    ends_in: ClassVar[InstanceState | None] = S.TERMINATED


InstanceStep = Launch | PowerOn | PowerOff | Reboot | Apply | Isolate | Destroy

# ---- disk (CBS) and address (EIP) steps ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateDisk:
    """An elastic disk's storage is made. Its row exists already, UNATTACHED, as Tencent shows a new disk."""

    size: int


@dataclass(frozen=True, slots=True)
class DeleteDisk:
    """A terminated elastic disk's storage is removed. Its row is gone already."""


@dataclass(frozen=True, slots=True)
class AttachDisk:
    instance_id: str


@dataclass(frozen=True, slots=True)
class DetachDisk:
    pass


@dataclass(frozen=True, slots=True)
class ExpandDisk:
    """The new size is taken by the guest at its next boot (both drivers grow disks before booting)."""

    size: int


@dataclass(frozen=True, slots=True)
class CreateAddress:
    pass


@dataclass(frozen=True, slots=True)
class BindAddress:
    pass


@dataclass(frozen=True, slots=True)
class UnbindAddress:
    # DisassociateAddress with ReallocateNormalPublicIp: the instance gets a plain public IP instead.
    reallocate: bool = False


@dataclass(frozen=True, slots=True)
class ReleaseAddress:
    pass


ResourceStep = (CreateDisk | DeleteDisk | AttachDisk | DetachDisk | ExpandDisk
                | CreateAddress | BindAddress | UnbindAddress | ReleaseAddress)

Step = InstanceStep | ResourceStep


def transitional_state(steps: list[Step], state: str) -> str:
    """The state an instance in `state` is moved to at once when an operation of these steps is accepted."""
    head = steps[0] if steps else None
    if isinstance(head, InstanceStep) and head.enters is not None:
        return head.enters
    return state


def final_state(steps: list[Step], state: str) -> str:
    """The state the instance ends in when every step succeeded."""
    for step in steps:
        if isinstance(step, InstanceStep) and step.ends_in is not None:
            state = step.ends_in
    return state


# ---- the stored form --------------------------------------------------------------------------------

_STEP_TYPES: dict[str, type] = {cls.__name__: cls for cls in typing.get_args(Step)}
_CHANGE_TYPES: dict[str, type] = {cls.__name__: cls for cls in typing.get_args(Change)}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_CHANGE_CLASSES = tuple(_CHANGE_TYPES.values())


def _encode(value: Any, tag: str) -> dict[str, Any]:
    # Enums and tuples are left to the JSON serializer (both the store's and the standard one write them as
    # their values and as arrays); this runs for every accepted operation, so it does no more than it must.
    cls: type = type(value)
    data: dict[str, Any] = {tag: cls.__name__}
    for name in _field_names(cls):
        field = getattr(value, name)
        data[name] = _encode(field, "change") if isinstance(field, _CHANGE_CLASSES) else field
    return data


def encode_step(step: Step) -> dict[str, Any]:
    return _encode(step, "step")


def encode_steps(steps: list[Step]) -> list[dict[str, Any]]:
    return [_encode(s, "step") for s in steps]


def _same(value: Any) -> Any:
    return value


def _converter(hint: Any) -> Callable[[Any], Any]:
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return hint._value2member_map_.__getitem__  # the member by value, without the slow Enum call
    if typing.get_origin(hint) is tuple:
        return tuple
    if hint == Change:
        return _decode_change
    return _same


@cache
def _decoders(cls: type) -> dict[str, Callable[[Any], Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}


def _build(cls: type, data: dict[str, Any], tag: str) -> Any:
    decoders = _decoders(cls)
    return cls(**{name: decoders[name](value) for name, value in data.items() if name != tag})


def _decode_change(data: dict[str, Any]) -> Change:
    return typing.cast(Change, _build(_CHANGE_TYPES[data["change"]], data, "change"))


def decode_step(data: dict[str, Any]) -> Step:
    cls = _STEP_TYPES.get(data.get("step", ""))
    if cls is None:
        raise ValueError(f"not a stored step: {data!r}")
    return typing.cast(Step, _build(cls, data, "step"))


def decode_steps(stored: list[dict[str, Any]]) -> list[Step]:
    return [decode_step(s) for s in stored]
