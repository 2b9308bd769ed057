"""A small QMP client. Commands take one short-lived connection each over the VM's command socket:
holding none between commands keeps re-adoption after a minicvm restart trivial. Events (SHUTDOWN,
STOP, ...) are read from a second monitor, on its own socket, that the driver keeps open per VM."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any


class QmpError(Exception):
    """The monitor could not be reached, or it refused the command."""


class Qmp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._next_id = 0

    @classmethod
    async def connect(cls, path: Path, timeout: float = 2.0) -> Qmp:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout)
        except (OSError, TimeoutError) as exc:
            raise QmpError(f"QMP socket {path.name}: {exc}") from None
        qmp = cls(reader, writer)
        try:
            greeting = await qmp._message(timeout)
            if "QMP" not in greeting:
                raise QmpError(f"not a QMP greeting: {greeting}")
            await qmp.execute("qmp_capabilities", timeout=timeout)
        except BaseException:
            qmp.close()
            raise
        return qmp

    async def _message(self, timeout: float | None) -> dict[str, Any]:
        try:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
        except (OSError, TimeoutError) as exc:
            raise QmpError(f"QMP read: {exc or 'timed out'}") from None
        if not line:
            raise QmpError("QMP connection closed")
        try:
            return json.loads(line)
        except ValueError:
            raise QmpError(f"QMP sent garbage: {line[:80]!r}") from None

    async def execute(self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 2.0) -> Any:
        self._next_id += 1
        request: dict[str, Any] = {"execute": command, "id": self._next_id}
        if arguments:
            request["arguments"] = arguments
        try:
            self.writer.write(json.dumps(request).encode() + b"\n")
            await self.writer.drain()
        except OSError as exc:
            raise QmpError(f"QMP write: {exc}") from None
        while True:
            message = await self._message(timeout)
            if "event" in message or message.get("id") not in (None, self._next_id):
                continue  # asynchronous events (SHUTDOWN, POWERDOWN, ...) are not answers
            if "error" in message:
                error = message["error"]
                raise QmpError(f"{command}: {error.get('class')}: {error.get('desc')}")
            if "return" in message:
                return message["return"]

    async def event(self) -> dict[str, Any]:
        """The next asynchronous event, however long it takes; QmpError once QEMU closes the monitor
        (it does when it exits)."""
        while True:
            message = await self._message(None)
            if "event" in message:
                return message

    def close(self) -> None:
        self.writer.close()


async def execute(path: Path, command: str, arguments: dict[str, Any] | None = None, timeout: float = 2.0) -> Any:
    """Connect, run one command, disconnect."""
    qmp = await Qmp.connect(path, timeout)
    try:
        return await qmp.execute(command, arguments, timeout)
    finally:
        qmp.close()
