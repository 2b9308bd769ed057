"""Resource identifiers in Tencent's shape: prefix, dash, 8 lowercase alphanumerics."""

import re
import secrets
import string
import uuid

_ALPHABET = string.ascii_lowercase + string.digits
_ID_RE = re.compile(r"^[a-z]+-[a-z0-9]{8}$")


def new_id(prefix: str) -> str:
    return prefix + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def is_well_formed(resource_id: str, prefix: str) -> bool:
    return isinstance(resource_id, str) and resource_id.startswith(prefix + "-") and bool(_ID_RE.match(resource_id))


def new_request_id() -> str:
    return str(uuid.uuid4())
