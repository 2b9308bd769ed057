"""Backoff for console sign-in: after a few failures in a row, an account name (or SecretId) and a
client address each have to wait before the next attempt is even checked, and the wait doubles with
every further failure. A success clears its account and its source."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

FREE_FAILURES = 5
FIRST_WAIT = 1.0
MAX_WAIT = 300.0
MAX_TRACKED = 10_000  # oldest entries go first, so a flood of made-up names cannot grow memory


@dataclass
class _Failures:
    count: int
    until: float  # monotonic time before which no attempt is checked


class LoginThrottle:
    def __init__(self) -> None:
        self._entries: OrderedDict[str, _Failures] = OrderedDict()

    @staticmethod
    def keys(source: str, account: str) -> tuple[str, str]:
        return f"source:{source}", f"account:{account.strip().lower()}"

    def wait_seconds(self, *keys: str) -> float:
        """How long the caller must still wait (0: the attempt may be checked)."""
        now = time.monotonic()
        waits = [entry.until - now for key in keys if (entry := self._entries.get(key)) is not None]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            entry = self._entries.pop(key, None) or _Failures(0, 0.0)
            entry.count += 1
            if entry.count > FREE_FAILURES:
                entry.until = now + min(MAX_WAIT, FIRST_WAIT * 2 ** (entry.count - FREE_FAILURES - 1))
            self._entries[key] = entry
        while len(self._entries) > MAX_TRACKED:
            self._entries.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)
