"""Who may log in to a sim guest by password, as its boot read it from the system disk: one rule for
SSH and for the console's login prompt."""

from __future__ import annotations

from typing import Any


def password_hash(config: dict[str, Any]) -> str | None:
    """The password the guest accepts, if password login is on (binding key pairs turns it off)."""
    if config.get("password_login") is False:
        return None
    return config.get("password_hash") or None
