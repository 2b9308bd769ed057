"""HTTP/1.x framing for the proxy: request and response heads, and a chunked-body scanner.

Only what a proxy needs: heads are split into the header lines it forwards untouched and the few
fields that decide framing and routing. Bodies are never parsed beyond finding where they end."""

from __future__ import annotations

import re

MAX_HEAD = 64 * 1024
MAX_CHUNK_LINE = 4096

# Hop-by-hop headers (RFC 9110 7.6.1) plus Proxy-Connection: never forwarded as received.
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
                        b"transfer-encoding", b"upgrade", b"proxy-authenticate", b"proxy-authorization"})
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

REASONS = {400: "Bad Request", 404: "Not Found", 431: "Request Header Fields Too Large",
           501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout", 505: "HTTP Version Not Supported"}


class ProtocolError(Exception):
    def __init__(self, status: int = 400) -> None:
        super().__init__(status)
        self.status = status


class Request:
    __slots__ = ("method", "target", "path", "http11", "host", "lines", "length", "chunked", "te",
                 "close", "keep_alive_10", "xff", "head_only")
    method: bytes
    target: bytes
    path: bytes
    http11: bool
    head_only: bool

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.host = b""
        self.length = 0
        self.chunked = False
        self.te = b""
        self.close = False
        self.keep_alive_10 = False
        self.xff = b""


def _connection_tokens(value: bytes) -> set[bytes]:
    return {t.strip().lower() for t in value.split(b",") if t.strip()}


def _drop_listed(lines: list[bytes], tokens: set[bytes]) -> list[bytes]:
    """Headers named in Connection are hop-by-hop too (rare, so a second pass is fine)."""
    extra = tokens - {b"close", b"keep-alive"}
    if not extra:
        return lines
    return [line for line in lines if line.partition(b":")[0].strip().lower() not in extra]


def parse_request(head: bytes) -> Request:
    lines = head.split(b"\r\n")
    try:
        method, target, version = lines[0].split(b" ")
    except ValueError:
        raise ProtocolError(400) from None
    if version == b"HTTP/1.1":
        http11 = True
    elif version == b"HTTP/1.0":
        http11 = False
    elif version.startswith(b"HTTP/"):
        raise ProtocolError(505)
    else:
        raise ProtocolError(400)
    if not _TOKEN.fullmatch(method) or not target:
        raise ProtocolError(400)
    req = Request()
    req.method = method
    req.http11 = http11
    req.head_only = method == b"HEAD"
    if target[:1] != b"/":
        if target.startswith((b"http://", b"https://")):
            # Absolute form (a client that thinks we are a forward proxy): the authority is the Host.
            rest = target.split(b"://", 1)[1]
            authority, slash, path = rest.partition(b"/")
            req.host = authority
            target = b"/" + path if slash else b"/"
        elif method != b"OPTIONS" or target != b"*":
            raise ProtocolError(400)
    req.target = target
    req.path = target.split(b"?", 1)[0]
    kept = req.lines
    length: bytes | None = None
    connection = b""
    seen_host = False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name[-1] in b" \t" or name[0] in b" \t":
            raise ProtocolError(400)  # no whitespace before the colon, no obsolete line folding
        lname = name.lower()
        if lname == b"host":
            if not req.host:
                req.host = value.strip()
            seen_host = True
            kept.append(line)
        elif lname == b"content-length":
            value = value.strip()
            if not value.isdigit() or (length is not None and value != length):
                raise ProtocolError(400)
            length = value
        elif lname == b"transfer-encoding":
            req.te = req.te + b", " + value.strip() if req.te else value.strip()
        elif lname == b"connection":
            connection = connection + b"," + value if connection else value
        elif lname == b"x-forwarded-for":
            req.xff = req.xff + b", " + value.strip() if req.xff else value.strip()
        elif lname not in HOP_BY_HOP:
            kept.append(line)
    if req.host and not seen_host:
        kept.append(b"Host: " + req.host)  # absolute-form target without a Host header
    if req.te:
        # Both framings at once is the classic smuggling vector: refuse rather than guess.
        if length is not None or not req.te.lower().rstrip().endswith(b"chunked"):
            raise ProtocolError(400)
        if req.te.lower().strip() != b"chunked":
            raise ProtocolError(501)
        req.chunked = True
    elif length is not None:
        req.length = int(length)
    if connection:
        tokens = _connection_tokens(connection)
        req.close = b"close" in tokens
        req.keep_alive_10 = b"keep-alive" in tokens
        req.lines = _drop_listed(kept, tokens)
    if not http11 and not req.keep_alive_10:
        req.close = True
    return req


def build_request(req: Request, client_ip: bytes) -> bytes:
    """The head sent to a backend: HTTP/1.1 (pooled keep-alive), the client's end-to-end headers,
    X-Forwarded-For with the client appended, and our own framing."""
    xff = req.xff + b", " + client_ip if req.xff else client_ip
    if req.chunked:
        framing = b"\r\nTransfer-Encoding: chunked"
    elif req.length or req.method in (b"POST", b"PUT", b"PATCH"):
        framing = b"\r\nContent-Length: " + str(req.length).encode()
    else:
        framing = b""
    lines = req.lines
    return b"".join((req.method, b" ", req.target, b" HTTP/1.1\r\n", b"\r\n".join(lines),
                     b"\r\nX-Forwarded-For: " if lines else b"X-Forwarded-For: ", xff, framing, b"\r\n\r\n"))


class Response:
    __slots__ = ("status", "status_line", "lines", "length", "chunked", "close", "http11")
    status: int
    status_line: bytes
    lines: list[bytes]
    length: int | None  # None: chunked, or delimited by the connection's close
    chunked: bool
    close: bool
    http11: bool


def parse_response(head: bytes) -> Response:
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise ProtocolError(502)
    resp = Response()
    resp.status = int(code)
    resp.http11 = version == b"HTTP/1.1"
    # Always HTTP/1.1 towards the client: that is the version this proxy speaks.
    resp.status_line = b"HTTP/1.1 " + rest if rest[3:4] == b" " else b"HTTP/1.1 " + code + b" "
    kept: list[bytes] = []
    length: bytes | None = None
    te = b""
    connection = b""
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name:
            raise ProtocolError(502)
        lname = name.strip().lower()
        if lname == b"content-length":
            value = value.strip()
            if not value.isdigit() or (length is not None and value != length):
                raise ProtocolError(502)
            length = value
        elif lname == b"transfer-encoding":
            te = te + b"," + value.strip() if te else value.strip()
        elif lname == b"connection":
            connection = connection + b"," + value if connection else value
        elif lname not in HOP_BY_HOP:
            kept.append(line)
    tokens = _connection_tokens(connection) if connection else set()
    resp.lines = _drop_listed(kept, tokens) if tokens else kept
    resp.chunked = bool(te) and te.lower().rstrip().endswith(b"chunked")
    resp.length = None if resp.chunked or length is None else int(length)
    resp.close = b"close" in tokens or (not resp.http11 and b"keep-alive" not in tokens)
    return resp


def error_response(status: int, close: bool, head_only: bool = False) -> bytes:
    reason = REASONS.get(status, "Error")
    body = f"<html><body><h1>{status} {reason}</h1></body></html>\n".encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "") + "\r\n").encode()
    return head if head_only else head + body


class ChunkedScanner:
    """Finds the end of a chunked body. Used to pass chunked bodies through byte for byte (and, for an
    HTTP/1.0 client, to strip the framing and hand back just the data)."""

    __slots__ = ("state", "remaining", "line", "done")
    SIZE, DATA, DATA_END, TRAILER = range(4)

    def __init__(self) -> None:
        self.state = self.SIZE
        self.remaining = 0
        self.line = b""
        self.done = False

    def feed(self, data: bytes, decode: bool = False) -> tuple[int, list[bytes]]:
        """Returns (bytes of `data` that belong to this body, data pieces if `decode`)."""
        pos = 0
        end = len(data)
        pieces: list[bytes] = []
        while pos < end and not self.done:
            if self.state == self.DATA:
                take = min(self.remaining, end - pos)
                if decode:
                    pieces.append(data[pos:pos + take])
                pos += take
                self.remaining -= take
                if not self.remaining:
                    self.state = self.DATA_END
                continue
            eol = data.find(b"\n", pos)
            if eol < 0:
                self.line += data[pos:]
                if len(self.line) > MAX_CHUNK_LINE:
                    raise ProtocolError(400)
                return end, pieces
            line = (self.line + data[pos:eol]).rstrip(b"\r")
            self.line = b""
            pos = eol + 1
            if self.state == self.SIZE:
                size = line.split(b";", 1)[0].strip()
                if not _CHUNK_SIZE.fullmatch(size):
                    raise ProtocolError(400)
                self.remaining = int(size, 16)
                self.state = self.DATA if self.remaining else self.TRAILER
            elif self.state == self.DATA_END:
                if line:
                    raise ProtocolError(400)
                self.state = self.SIZE
            elif not line:
                self.done = True
        return pos, pieces
