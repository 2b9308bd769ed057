"""Asking a guest agent `GET /` from the host. QEMU's host forwarding accepts TCP connections before
the guest listens (and then drops them), so only a complete HTTP answer means the guest is up."""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def describe(host: str, port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """The guest's `GET /` facts, or None if no complete answer came within `timeout`."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            raw = await reader.read(-1)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    finally:
        if writer is not None:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None
    try:
        facts = json.loads(body)
    except ValueError:
        return None
    return facts if isinstance(facts, dict) else None
