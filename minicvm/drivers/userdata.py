"""What a guest reads from its UserData. The one setting minicvm defines: a line

    minicvm_ignore_power_button: true

makes the guest ignore the ACPI power button (like a hung OS), so SOFT stops fail and SOFT_FIRST
escalates to a hard stop. Both drivers' guests honour it."""

from __future__ import annotations

import base64
import binascii
import re

_IGNORE = re.compile(r"^\s*minicvm_ignore_power_button\s*[:=]\s*(true|yes|1)\s*$", re.I | re.M)


def decode(user_data: str | None) -> str:
    if not user_data:
        return ""
    try:
        return base64.b64decode(user_data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def ignores_power_button(user_data: str | None) -> bool:
    return bool(_IGNORE.search(decode(user_data)))
