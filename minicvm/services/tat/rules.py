"""What TAT accepts in a command: its checks, with Tencent's error codes, in one place."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from minicvm.errors import ApiError
from minicvm.services.models import Tag

MAX_CONTENT = 64 * 1024  # bytes of base64
MAX_NAME = 60  # bytes
MAX_DESCRIPTION = 120
MAX_INSTANCES = 200
COMMAND_TYPES = ("SHELL", "POWERSHELL", "BAT")
_NAME_RE = re.compile(r"^[\w\-.\u4e00-\u9fff]+$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class CommandDocument:
    content: str  # base64
    command_type: str
    working_directory: str
    timeout: int
    username: str


def content(value: str) -> str:
    if not value:
        raise ApiError("InvalidParameterValue.InvalidContent", "`Content` must not be empty.")
    if len(value) > MAX_CONTENT:
        raise ApiError("InvalidParameterValue.TooLong", f"`Content` is longer than {MAX_CONTENT} bytes of base64.")
    try:
        base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        raise ApiError("InvalidParameterValue.InvalidContent",
                       "`Content` must be a script in base64 (UTF-8 text once decoded).") from None
    return value


def name(value: str) -> str:
    if not value or len(value.encode()) > MAX_NAME or not _NAME_RE.match(value):
        raise ApiError("InvalidParameterValue.InvalidCommandName",
                       f"`CommandName` takes 1 to {MAX_NAME} bytes of letters, digits, Chinese characters, '_', "
                       "'-' and '.'.")
    return value


def description(value: str | None) -> str:
    if value is not None and len(value) > MAX_DESCRIPTION:
        raise ApiError("InvalidParameterValue.TooLong", f"`Description` takes at most {MAX_DESCRIPTION} characters.")
    return value or ""


def command_type(value: str | None) -> str:
    value = value or "SHELL"
    if value not in COMMAND_TYPES:
        raise ApiError("InvalidParameterValue", f"`CommandType` must be one of {', '.join(COMMAND_TYPES)}.")
    return value


def timeout(value: int | None, default: int = 60) -> int:
    value = default if value is None else value
    if not 1 <= value <= 86400:
        raise ApiError("InvalidParameterValue.Range", "`Timeout` must be between 1 and 86400 seconds.")
    return value


def working_directory(value: str | None, default: str = "/root") -> str:
    value = default if value is None else value
    if not value.startswith("/") or len(value) > 4096:
        raise ApiError("InvalidParameterValue.InvalidWorkingDirectory",
                       "`WorkingDirectory` must be an absolute path.")
    return value


def username(value: str | None, default: str = "root") -> str:
    value = default if value is None else value
    if not _USER_RE.match(value):
        raise ApiError("InvalidParameterValue.InvalidUsername", f"`Username` {value!r} is not a valid user name.")
    return value


def unsupported(**given: object) -> None:
    """Parameters minicvm does not model are refused instead of ignored (no COS, no parameters)."""
    for field, value in given.items():
        if value:
            raise ApiError("UnsupportedOperation", f"minicvm's TAT does not support `{field}`.")


def parameters(enable: bool | None, default_parameters: str | None, given: str | None) -> None:
    if given and not enable:
        raise ApiError("InvalidParameterValue.SupportParametersOnlyIfEnableParameter",
                       "`Parameters` needs a command with `EnableParameter`.")
    for field, value in (("DefaultParameters", default_parameters), ("Parameters", given)):
        if value:
            try:
                json.loads(value)
            except ValueError:
                raise ApiError("InvalidParameterValue.ParameterInvalidJsonFormat",
                               f"`{field}` must be a JSON object.") from None


def tags(value: list[Tag] | None) -> list[dict[str, str]]:
    found = [{"Key": t.Key, "Value": t.Value} for t in value or []]
    if len(found) > 10:
        raise ApiError("InvalidParameterValue.LimitExceeded", "A command takes at most 10 tags.")
    return found
