"""In-process fan-out of domain events (instance state changes, operation results, health changes).
The console's live view, the CLB data plane and the auto-scaling reconciler listen here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[Event], Awaitable[None] | None]


class Bus:
    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[Event]] = set()
        self.listeners: list[Listener] = []

    def subscribe(self, maxsize: int = 1000) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self.queues.discard(queue)

    def publish(self, event: Event) -> None:
        for queue in list(self.queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                pass  # a slow reader misses live updates; it re-reads state on its next poll
        for listener in self.listeners:
            try:
                result = listener(event)
                if result is not None:
                    asyncio.ensure_future(result)
            except Exception:  # a broken listener must not break the operation that published
                log.exception("event listener failed")
