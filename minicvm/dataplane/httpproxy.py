"""The HTTP/1.1 reverse proxy: one protocol object per client connection, one per backend connection.

A client connection carries one exchange at a time (pipelined requests wait in `buf` and are read
only once the response before them is complete, which keeps responses in order). Each exchange picks
a backend, borrows an idle keep-alive connection to it (or opens one), streams the request body as it
arrives and streams the response back. Nothing is buffered beyond what one `data_received` hands us;
the transports' write-buffer limits drive pause/resume in both directions.

A backend that refuses, or breaks the connection before a response head, gives the client a 502 and the
request is not retried elsewhere: Tencent's L7 "passive health check" retry is deliberately not imitated,
so that a stopped target behind a listener without health checks shows as 502s, which is what users test
for when they ask whether their health check is needed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from minicvm.dataplane.http1 import (
    MAX_HEAD,
    ChunkedScanner,
    ProtocolError,
    build_request,
    error_response,
    parse_request,
    parse_response,
)
from minicvm.dataplane.model import source_address

if TYPE_CHECKING:
    from minicvm.dataplane.balancer import Member
    from minicvm.dataplane.plane import ListenerRuntime

CONNECT_TIMEOUT = 5.0
RESPONSE_TIMEOUT = 60.0  # Tencent's L7 default for a backend that accepted but does not answer
CLIENT_IDLE_TIMEOUT = 75.0  # keep-alive connections idle longer than this are closed
UPSTREAM_IDLE_TIMEOUT = 60.0
MAX_IDLE_PER_BACKEND = 128

PAUSE_CONNECT, PAUSE_BACKEND, PAUSE_PIPELINE = 1, 2, 4
# How a response body is framed towards the client.
R_NONE, R_LENGTH, R_CHUNKED, R_CHUNKED_DECODE, R_EOF, R_EOF_CHUNK = range(6)
_CONTINUE_AFTER = frozenset({100, 102, 103})


# A backend connection's ends: (the load balancer's VIP it comes from, backend host, backend port).
Upstream = tuple[str, str, int]


class Upstreams:
    """Idle keep-alive connections to backends, by source and address, shared by every HTTP listener
    (LIFO, so a warm connection is reused and the surplus ages out)."""

    def __init__(self) -> None:
        self.idle: dict[Upstream, dict[BackendConn, float]] = {}

    def take(self, addr: Upstream) -> BackendConn | None:
        conns = self.idle.get(addr)
        while conns:
            conn, _ = conns.popitem()
            if not conn.transport.is_closing():
                return conn
        return None

    def put(self, conn: BackendConn, now: float) -> None:
        conns = self.idle.setdefault(conn.addr, {})
        if len(conns) >= MAX_IDLE_PER_BACKEND:
            conn.transport.close()
        else:
            conns[conn] = now

    def discard(self, conn: BackendConn) -> None:
        conns = self.idle.get(conn.addr)
        if conns is not None:
            conns.pop(conn, None)
            if not conns:
                del self.idle[conn.addr]

    def close(self, addrs: set[tuple[str, int]] | None = None, older_than: float | None = None) -> None:
        """Idle connections to these backend addresses (all: None), from every source."""
        for addr, conns in list(self.idle.items()):
            if addrs is not None and addr[1:] not in addrs:
                continue
            for conn, since in list(conns.items()):
                if older_than is None or since < older_than:
                    conns.pop(conn, None)
                    conn.transport.close()
            if not conns:
                self.idle.pop(addr, None)


class BackendConn(asyncio.Protocol):
    __slots__ = ("upstreams", "addr", "transport", "frontend")

    def __init__(self, upstreams: Upstreams, addr: Upstream) -> None:
        self.upstreams = upstreams
        self.addr = addr
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.frontend: HttpFrontend | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        frontend = self.frontend
        if frontend is None:
            self.transport.abort()  # an idle connection must stay silent
        else:
            frontend.backend_data(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.upstreams.discard(self)
        frontend = self.frontend
        if frontend is not None:
            self.frontend = None
            frontend.backend_lost()

    def pause_writing(self) -> None:
        if self.frontend is not None:
            self.frontend.pause(PAUSE_BACKEND)

    def resume_writing(self) -> None:
        if self.frontend is not None:
            self.frontend.resume(PAUSE_BACKEND)


class HttpFrontend(asyncio.Protocol):
    def __init__(self, listener: ListenerRuntime) -> None:
        self.listener = listener
        self.upstreams = listener.plane.upstreams
        self.loop = listener.loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client_ip = b""
        self.client_ip_str = ""
        self.buf = b""
        self.busy = False
        self.closed = False
        self.eof = False
        self.paused = 0
        self.write_paused = False
        self.stamp = 0.0
        self.keep_alive = True
        self.http11 = True
        self.head_only = False
        self.member: Member | None = None
        self.backend: BackendConn | None = None
        self.pending: list[bytes] = []
        self.req_done = True
        self.req_left = 0
        self.req_scanner: ChunkedScanner | None = None
        self.rbuf = b""
        self.resp_started = False
        self.resp_mode = R_NONE
        self.resp_left = 0
        self.resp_scanner: ChunkedScanner | None = None
        self.reusable = True

    # -- client side --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip_str = peer[0] if peer else ""
        self.client_ip = self.client_ip_str.encode()
        self.stamp = self.loop.time()
        self.listener.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.listener.connections.discard(self)
        if self.busy:
            # The client went away mid-exchange: the backend connection is in an unknown state.
            backend = self.backend
            if backend is not None:
                backend.frontend = None
                backend.transport.abort()
                self.backend = None
            self._end_exchange()

    def eof_received(self) -> bool:
        self.eof = True
        self.keep_alive = False
        # A request already read in full still gets its response; anything else ends here.
        return self.busy and self.req_done

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.backend is not None:
            self.backend.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.backend is not None:
            self.backend.transport.resume_reading()

    def pause(self, why: int) -> None:
        if not self.paused and not self.transport.is_closing():
            self.transport.pause_reading()
        self.paused |= why

    def resume(self, why: int) -> None:
        if self.paused & why:
            self.paused &= ~why
            if not self.paused and not self.transport.is_closing():
                self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.busy:
            if not self.req_done:
                self.stamp = self.loop.time()
                try:
                    data = self._request_body(data)
                except ProtocolError:
                    self._fail_request()
                    return
                self._flush()
                if not data:
                    return
            self.buf += data  # pipelined: read once the current response is complete
            if len(self.buf) > MAX_HEAD:
                self.pause(PAUSE_PIPELINE)
            return
        if self.buf:
            data = self.buf + data
            self.buf = b""
        self._requests(data)
        self._flush()

    def _requests(self, data: bytes) -> None:
        while data and not self.busy:
            if self.transport.is_closing():
                return
            if data[:1] in (b"\r", b"\n"):
                data = data.lstrip(b"\r\n")  # RFC 9112 2.2: ignore empty lines before a request
                continue
            end = data.find(b"\r\n\r\n")
            if end < 0 or end > MAX_HEAD:
                if len(data) > MAX_HEAD:
                    self._local_reply(431, close=True)
                else:
                    self.buf = data
                return
            try:
                req = parse_request(data[:end])
            except ProtocolError as exc:
                self.head_only = False
                self._local_reply(exc.status, close=True)
                return
            data = data[end + 4:]
            self._begin(req)
            if self.busy and not self.req_done:
                try:
                    data = self._request_body(data)
                except ProtocolError:
                    self._fail_request()
                    return
        if data:
            self.buf = data
            if len(data) > MAX_HEAD:
                self.pause(PAUSE_PIPELINE)

    def _begin(self, req) -> None:  # type: ignore[no-untyped-def]
        listener = self.listener
        listener.requests += 1
        self.http11 = req.http11
        self.head_only = req.head_only
        self.keep_alive = not req.close and not self.eof
        has_body = req.chunked or req.length > 0
        pool = listener.route(req.host, req.path)
        if pool is None:
            self._local_reply(404, close=has_body or not self.keep_alive)
            return
        member = pool.pick(self.client_ip_str)
        if member is None:
            self._local_reply(503, close=has_body or not self.keep_alive)
            return
        member.acquire()
        self.member = member
        self.busy = True
        self.stamp = self.loop.time()
        self.resp_started = False
        self.reusable = True
        if req.chunked:
            self.req_scanner = ChunkedScanner()
            self.req_done = False
        elif req.length:
            self.req_left = req.length
            self.req_done = False
        else:
            self.req_done = True
        self.pending.append(build_request(req, self.client_ip))
        backend = self.upstreams.take((self.listener.config.vip, member.backend.host, member.backend.port))
        if backend is not None:
            self._attach(backend)
        else:
            self.pause(PAUSE_CONNECT)
            listener.plane.spawn(self._connect(member))

    def _request_body(self, data: bytes) -> bytes:
        """Queue this request's share of `data` for the backend; return what follows it."""
        scanner = self.req_scanner
        if scanner is None:
            left = self.req_left
            if len(data) <= left:
                self.pending.append(data)
                self.req_left = left - len(data)
                self.req_done = not self.req_left
                return b""
            self.pending.append(data[:left])
            self.req_left = 0
            self.req_done = True
            return data[left:]
        used, _ = scanner.feed(data)
        self.pending.append(data if used == len(data) else data[:used])
        if scanner.done:
            self.req_done = True
            self.req_scanner = None
        return data[used:]

    def _flush(self) -> None:
        pending = self.pending
        if pending and self.backend is not None:
            self.backend.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            pending.clear()

    def _attach(self, backend: BackendConn) -> None:
        backend.frontend = self
        self.backend = backend
        if self.write_paused:
            backend.transport.pause_reading()

    async def _connect(self, member: Member) -> None:
        vip, host, port = self.listener.config.vip, member.backend.host, member.backend.port
        addr = (vip, host, port)
        upstreams = self.upstreams
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                _, backend = await self.loop.create_connection(lambda: BackendConn(upstreams, addr), host, port,
                                                               local_addr=source_address(vip, host))
        except TimeoutError:
            if self.member is member and not self.closed:
                self._backend_failed(504)
            return
        except OSError:
            if self.member is member and not self.closed:
                self._backend_failed(502)
            return
        if self.member is not member or self.closed:
            upstreams.put(backend, self.loop.time())  # fresh and unused: someone else can have it
            return
        self._attach(backend)
        self._flush()
        self.resume(PAUSE_CONNECT)

    # -- backend side -------------------------------------------------------------------------------

    def backend_data(self, data: bytes) -> None:
        self.stamp = self.loop.time()
        head = b""
        if not self.resp_started:
            if self.rbuf:
                data = self.rbuf + data
                self.rbuf = b""
            while True:
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    if len(data) > MAX_HEAD:
                        self._backend_failed(502)
                    else:
                        self.rbuf = data
                    return
                try:
                    resp = parse_response(data[:end])
                except ProtocolError:
                    self._backend_failed(502)
                    return
                data = data[end + 4:]
                if resp.status >= 200:
                    break
                if resp.status not in _CONTINUE_AFTER:  # 101: we never ask for an upgrade
                    self._backend_failed(502)
                    return
                if self.http11:
                    self.transport.write(b"\r\n".join([resp.status_line, *resp.lines]) + b"\r\n\r\n")
                if not data:
                    return
            head = self._response_head(resp)
            self.resp_started = True
        out, done = self._response_body(data)
        if head:
            out = head + out if out else head
        if out:
            self.transport.write(out)
        if done:
            self._finish()

    def _response_head(self, resp) -> bytes:  # type: ignore[no-untyped-def]
        status = resp.status
        if status >= 500:
            self.listener.responses_5xx += 1
            if self.member is not None:
                self.member.responses_5xx += 1
        self.reusable = not resp.close
        parts = [resp.status_line, *resp.lines]
        if self.head_only or status in (204, 304):
            self.resp_mode = R_NONE
            if resp.length is not None and status != 204:
                parts.append(b"Content-Length: %d" % resp.length)  # HEAD/304 describe the GET
        elif resp.chunked:
            self.resp_scanner = ChunkedScanner()
            if self.http11:
                self.resp_mode = R_CHUNKED
                parts.append(b"Transfer-Encoding: chunked")
            else:
                self.resp_mode = R_CHUNKED_DECODE
                self.keep_alive = False
        elif resp.length is not None:
            self.resp_mode = R_LENGTH
            self.resp_left = resp.length
            parts.append(b"Content-Length: %d" % resp.length)
        else:
            self.reusable = False  # the body ends when the backend closes
            if self.http11:
                self.resp_mode = R_EOF_CHUNK
                parts.append(b"Transfer-Encoding: chunked")
            else:
                self.resp_mode = R_EOF
                self.keep_alive = False
        if not self.keep_alive:
            parts.append(b"Connection: close")
        elif not self.http11:
            parts.append(b"Connection: keep-alive")
        return b"\r\n".join(parts) + b"\r\n\r\n"

    def _response_body(self, data: bytes) -> tuple[bytes, bool]:
        mode = self.resp_mode
        if mode == R_LENGTH:
            left = self.resp_left
            if len(data) < left:
                self.resp_left = left - len(data)
                return data, False
            if len(data) > left:
                self.reusable = False  # bytes after the response: the connection is out of step
                data = data[:left]
            self.resp_left = 0
            return data, True
        if mode == R_NONE:
            if data:
                self.reusable = False
            return b"", True
        if mode == R_EOF:
            return data, False
        if mode == R_EOF_CHUNK:
            return (b"%x\r\n%b\r\n" % (len(data), data) if data else b""), False
        scanner = self.resp_scanner
        assert scanner is not None
        try:
            used, pieces = scanner.feed(data, mode == R_CHUNKED_DECODE)
        except ProtocolError:
            self.reusable = False
            self.transport.abort()
            return b"", False
        if scanner.done and used < len(data):
            self.reusable = False
        if mode == R_CHUNKED:
            return (data if used == len(data) else data[:used]), scanner.done
        return b"".join(pieces), scanner.done

    def backend_lost(self) -> None:
        self.backend = None
        if not self.busy:
            return
        if not self.resp_started:
            self._backend_failed(502)
        elif self.resp_mode == R_EOF:
            self.transport.close()  # close-delimited body: the client sees its end the same way
            self._end_exchange()
        elif self.resp_mode == R_EOF_CHUNK:
            self.transport.write(b"0\r\n\r\n")
            self._finish()
        else:
            # Truncated mid-body: a reset tells the client the response is incomplete.
            self._count_backend_error()
            self._end_exchange()
            self.transport.abort()

    # -- ends of an exchange ------------------------------------------------------------------------

    def _finish(self) -> None:
        backend = self.backend
        if backend is not None:
            self.backend = None
            backend.frontend = None
            if self.reusable and self.req_done and not backend.transport.is_closing():
                if self.write_paused:
                    backend.transport.resume_reading()
                self.upstreams.put(backend, self.loop.time())
            else:
                backend.transport.close()
        keep = self.keep_alive and self.req_done
        self._end_exchange()
        self._next(keep)

    def _next(self, keep: bool) -> None:
        if not keep:
            self.transport.close()
            return
        self.stamp = self.loop.time()
        if self.buf:
            data = self.buf
            self.buf = b""
            self._requests(data)
            self._flush()
        self.resume(PAUSE_PIPELINE)

    def _end_exchange(self) -> None:
        member = self.member
        if member is not None:
            self.member = None
            member.release()
        self.busy = False
        self.req_scanner = None
        self.resp_scanner = None
        self.pending.clear()
        self.rbuf = b""
        self.resume(PAUSE_CONNECT | PAUSE_BACKEND)

    def _count_backend_error(self) -> None:
        self.listener.backend_errors += 1
        if self.member is not None:
            self.member.backend_errors += 1

    def _backend_failed(self, status: int) -> None:
        """The backend refused, broke or timed out before a response head: the client gets `status`."""
        self._count_backend_error()
        if self.member is not None:
            self.member.responses_5xx += 1
        backend = self.backend
        if backend is not None:
            self.backend = None
            backend.frontend = None
            backend.transport.abort()
        keep = self.keep_alive and self.req_done
        self.listener.responses_5xx += 1
        self.transport.write(error_response(status, not keep, self.head_only))
        self._end_exchange()
        self._next(keep)

    def _fail_request(self) -> None:
        """A malformed request body after the head was forwarded: drop both ends."""
        backend = self.backend
        if backend is not None:
            self.backend = None
            backend.frontend = None
            backend.transport.abort()
        self._end_exchange()
        self.transport.abort()

    def _local_reply(self, status: int, close: bool) -> None:
        if status >= 500:
            self.listener.responses_5xx += 1
        self.transport.write(error_response(status, close, self.head_only))
        if close:
            self.transport.close()

    def check_timeout(self, now: float) -> None:
        idle = now - self.stamp
        if not self.busy:
            if idle > CLIENT_IDLE_TIMEOUT:
                self.transport.close()
        elif idle > RESPONSE_TIMEOUT:
            if self.resp_started:
                self._count_backend_error()
                self.transport.abort()
            else:
                self._backend_failed(504)
