"""Guest keys as file names: the same rules as the qemu guest agent (guest/store.c), so that a key
means the same thing to both drivers.

The mapping is injective and can only name a plain file inside the key directory: bytes outside
[A-Za-z0-9_.-] (and a leading dot, so `.` and `..` stay ordinary keys) become %XX, and `%` is not
safe itself, so no two keys share a name. Names that start with a dot are never keys: temporary
files use them, and they are never counted as stored data."""

from __future__ import annotations

import string

MAX_NAME = 240  # below ext4's 255-byte limit, with room for nothing else: the name is the key
TEMP_PREFIX = ".tmp."
_SAFE = frozenset((string.ascii_letters + string.digits + "_-").encode())
_DOT = ord(".")


class BadKey(ValueError):
    """The key cannot be stored: empty, holds a NUL byte (the qemu agent's keys are C strings), or
    is too long once encoded. `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def file_name(key: bytes) -> str:
    if not key:
        raise BadKey(404, "not found")
    if 0 in key:
        raise BadKey(400, "a key may not contain NUL")
    out = []
    for i, c in enumerate(key):
        out.append(chr(c) if c in _SAFE or (c == _DOT and i > 0) else f"%{c:02X}")
    name = "".join(out)
    if len(name) > MAX_NAME:
        raise BadKey(414, "key too long")
    return name


def is_key_file(name: str) -> bool:
    return not name.startswith(".")
