"""Login password rules (they differ between RunInstances and ResetInstancesPassword) and hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SPECIAL_RUN = set("()`~!@#$%^&*-+=|{}[]:;',.?/")
SPECIAL_RESET = set("()`~!@#$%^&*-+=_|{}[]:;'<>,.?/")


def _classes(password: str, special: set[str]) -> int:
    return sum(
        (
            any(c.islower() and c.isascii() for c in password),
            any(c.isupper() and c.isascii() for c in password),
            any(c.isdigit() for c in password),
            any(c in special for c in password),
        )
    )


def run_password_problem(password: str) -> str | None:
    """RunInstances (Linux): 8–30 chars, at least two of lower/upper/digit/special."""
    if not 8 <= len(password) <= 30:
        return "the password must be 8 to 30 characters long"
    if any(not (c.isascii() and (c.isalnum() or c in SPECIAL_RUN)) for c in password):
        return "the password contains a character that is not allowed"
    if _classes(password, SPECIAL_RUN) < 2:
        return "the password needs at least two of: lower-case letters, upper-case letters, digits, special characters"
    return None


def reset_password_problem(password: str) -> str | None:
    """ResetInstancesPassword (Linux): 8–30 chars, not starting with '/', at least three classes."""
    if not 8 <= len(password) <= 30:
        return "the password must be 8 to 30 characters long"
    if password.startswith("/"):
        return "the password must not start with '/'"
    if any(not (c.isascii() and (c.isalnum() or c in SPECIAL_RESET)) for c in password):
        return "the password contains a character that is not allowed"
    if _classes(password, SPECIAL_RESET) < 3:
        return ("the password needs at least three of: lower-case letters, upper-case letters, digits, "
                "special characters")
    return None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt64, digest64 = stored.split("$")
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt64), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest, base64.b64decode(digest64))
