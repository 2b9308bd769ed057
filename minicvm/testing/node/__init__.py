"""The Node.js side of the redirect: a loader that Node preloads through NODE_OPTIONS."""

from __future__ import annotations

from pathlib import Path

LOADER = Path(__file__).with_name("redirect.cjs")


def node_options(existing: str = "") -> str:
    """NODE_OPTIONS that preload the loader (kept once, after whatever options were already set)."""
    option = f'--require "{LOADER}"'
    return existing if option in existing else f"{existing} {option}".strip()
