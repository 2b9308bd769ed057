"""The TCP listener: one backend connection per client connection, bytes spliced both ways.

The client is not read until the backend has accepted (uvloop may still deliver the first bytes: those
are held until then); half-closes are
passed on (a client's FIN becomes a FIN to the backend and vice versa), and a reset on one side
becomes a reset on the other. A backend that refuses means the client connection is reset."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from minicvm.dataplane.httpproxy import CONNECT_TIMEOUT
from minicvm.dataplane.model import source_address

if TYPE_CHECKING:
    from minicvm.dataplane.balancer import Member
    from minicvm.dataplane.plane import ListenerRuntime


class TcpBackend(asyncio.Protocol):
    __slots__ = ("frontend", "transport", "eof")

    def __init__(self, frontend: TcpFrontend) -> None:
        self.frontend = frontend
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.frontend.backend_ready(self)

    def data_received(self, data: bytes) -> None:
        self.frontend.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        front = self.frontend.transport
        if front.is_closing():
            return False
        if front.can_write_eof():
            front.write_eof()
        if self.frontend.eof:
            front.close()
            return False
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        front = self.frontend.transport
        if exc is not None:
            front.abort()
        else:
            front.close()

    def pause_writing(self) -> None:
        if not self.frontend.transport.is_closing():
            self.frontend.transport.pause_reading()

    def resume_writing(self) -> None:
        if not self.frontend.transport.is_closing():
            self.frontend.transport.resume_reading()


class TcpFrontend(asyncio.Protocol):
    def __init__(self, listener: ListenerRuntime) -> None:
        self.listener = listener
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.member: Member | None = None
        self.peer: TcpBackend | None = None
        self.closed = False
        self.eof = False
        self.early = bytearray()  # bytes that arrived before the backend connection was up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        listener = self.listener
        listener.connections.add(self)
        listener.requests += 1
        peer = transport.get_extra_info("peername")
        pool = listener.l4_pool
        member = pool.pick(peer[0] if peer else "") if pool is not None else None
        if member is None:
            self.transport.abort()  # fail_closed with nothing in rotation, or no backends at all
            return
        member.acquire()
        self.member = member
        self.transport.pause_reading()
        listener.plane.spawn(self._connect(member))

    async def _connect(self, member: Member) -> None:
        loop = self.listener.loop
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                host = member.backend.host
                await loop.create_connection(lambda: TcpBackend(self), host, member.backend.port,
                                             local_addr=source_address(self.listener.config.vip, host))
        except (OSError, TimeoutError):
            self.listener.backend_errors += 1
            member.backend_errors += 1
            self.transport.abort()

    def backend_ready(self, peer: TcpBackend) -> None:
        self.peer = peer
        if self.closed:
            peer.transport.close()
            return
        if self.early:
            peer.transport.write(bytes(self.early))
            self.early.clear()
        if self.eof:
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
            return
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            self.peer.transport.write(data)
        else:
            # uvloop starts reading after connection_made, so pausing there can be too late.
            self.early += data
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None:
            return True  # keep the connection half-open; the FIN is passed on once the backend is up
        if peer.transport.is_closing():
            return False
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
        if peer.eof:
            peer.transport.close()
            return False
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.listener.connections.discard(self)
        peer = self.peer
        if peer is not None and not peer.transport.is_closing():
            if exc is not None:
                peer.transport.abort()
            else:
                peer.transport.close()
        member = self.member
        if member is not None:
            self.member = None
            member.release()

    def pause_writing(self) -> None:
        if self.peer is not None and not self.peer.transport.is_closing():
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()

    def check_timeout(self, now: float) -> None:
        """TCP connections have no idle limit here (Tencent's 900 s default is the control plane's
        to pass down if wanted)."""
