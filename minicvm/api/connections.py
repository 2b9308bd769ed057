"""Limits on what any client can make the HTTP server hold before it has proved anything: header bytes,
time to send the headers, time between body chunks, body bytes, and open connections in all.

uvicorn's httptools protocol bounds none of these (it only closes idle keep-alive connections), so a few
clients without credentials could fill memory with one endless header or the descriptor table with
sockets that never finish a request. This subclass adds the limits in the protocol, before any request
reaches an application."""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from minicvm.config import Settings

log = logging.getLogger("minicvm.connections")

CAP_LOG_INTERVAL = 10.0  # seconds between two "cap reached" lines while it stays reached


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int  # open connections in all; beyond it new ones are closed at once
    max_header_bytes: int  # request line and headers of one request
    max_body_bytes: int  # body of one request (the API refuses far less with its own error first)
    header_timeout: float  # from a connection's first byte (or its opening) to the end of its headers
    body_timeout: float  # the longest wait for the next piece of a body


class _CapLog:
    last = 0.0
    refused = 0

    @classmethod
    def refuse(cls, open_now: int, cap: int) -> None:
        cls.refused += 1
        now = time.monotonic()
        if now - cls.last >= CAP_LOG_INTERVAL:
            log.warning("connection cap reached: %d connections open (max_connections=%d); closed %d new "
                        "connection(s) at once since the last report", open_now, cap, cls.refused)
            cls.last = now
            cls.refused = 0


def limits_from(settings: Settings) -> ConnectionLimits:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # A quarter of the descriptors stay for guests, listeners, disks and the database.
    auto = max(64, soft * 3 // 4)
    return ConnectionLimits(
        max_connections=settings.max_connections or auto,
        max_header_bytes=settings.max_header_bytes,
        # Room above the API's own limit, so that the API answers an oversized body with its Tencent error.
        max_body_bytes=4 * settings.max_body_bytes,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
    )


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits`; pass the class as uvicorn.Config(http=…)."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _body_bytes = 0
        _in_head = True
        _refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.server_state.connections) >= limits.max_connections:
                self._refused = True
                _CapLog.refuse(len(self.server_state.connections), limits.max_connections)
                transport.abort()
                return
            super().connection_made(transport)
            self._start_head()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            self._disarm()
            super().connection_lost(exc)

        def _start_head(self) -> None:
            self._in_head = True
            self._head_bytes = 0
            self._arm(limits.header_timeout)

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self._refuse(408, "request timeout")

        def _refuse(self, status: int, reason: str) -> None:
            """Answer and close, unless the application's response has begun (then just close)."""
            if self.transport.is_closing():
                return
            cycle: Any = self.cycle
            if cycle is None or cycle.response_complete or not cycle.response_started:
                body = f"{reason}\n".encode()
                self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
                                     b"connection: close\r\n\r\n%s" % (status, reason.encode(), len(body), body))
            if cycle is not None:
                cycle.disconnected = True
                cycle.message_event.set()
            self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._in_head and self._head_bytes > limits.max_header_bytes:
                self._refuse(431, "request header fields too large")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if not self._in_head:  # the next request on a kept-alive connection
                self._start_head()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._body_bytes = 0
            self._arm(limits.body_timeout)
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            self._body_bytes += len(body)
            if self._body_bytes > limits.max_body_bytes:
                self._refuse(413, "request body too large")
                return
            self._arm(limits.body_timeout)
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # uvicorn now waits timeout_keep_alive for the next request; its first byte re-arms the head limits.
            self._in_head = False

    return GuardedHttpToolsProtocol
