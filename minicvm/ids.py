"""Resource identifiers in Tencent's shape: prefix, dash, 8 lowercase alphanumerics."""

import os
import re
import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_ID_RE = re.compile(r"^[a-z]+-[a-z0-9]{8}$")


def new_id(prefix: str) -> str:
    return prefix + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def is_well_formed(resource_id: str, prefix: str) -> bool:
    return isinstance(resource_id, str) and resource_id.startswith(prefix + "-") and bool(_ID_RE.match(resource_id))


def new_request_id() -> str:
    """A random (version 4) UUID, as Tencent's RequestIds are; formatted by hand, which costs a third of
    uuid.uuid4() — every request and every operation takes one."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"
