"""TC3-HMAC-SHA256 verification, exactly as the SDK and tccli sign.

The signature covers the Host header *as sent* (tccli sends `Host: http://127.0.0.1:4566`), the raw
query string for GET, and the raw body bytes for POST — so nothing here is ever reconstructed. The one
exception: the Node.js SDK sends `Host: 127.0.0.1:4566` but signs the host name without its port, so a
signature that fails over the Host as sent is tried once more over the Host without its port. The scope's
service is used verbatim (the Node.js and Java SDKs put `127` there for `127.0.0.1:4566`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from minicvm.errors import ApiError

ALGORITHM = "TC3-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
REQUIRED_SIGNED_HEADERS = frozenset({"content-type", "host"})


@dataclass(frozen=True)
class Credential:
    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str | None) -> Credential:
    bad = ApiError("AuthFailure.InvalidAuthorization", "The Authorization header is missing or is not TC3-HMAC-SHA256.")
    if not value:
        raise bad
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM or not rest:
        raise bad
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            raise bad
        parts[key] = val
    try:
        secret_id, date, service, terminator = parts["Credential"].split("/")
        signed = tuple(h for h in parts["SignedHeaders"].split(";") if h)
        signature = parts["Signature"]
    except (KeyError, ValueError):
        raise bad from None
    if terminator != "tc3_request" or not secret_id or not service or not signed or not _is_hex_digest(signature):
        raise bad
    missing = REQUIRED_SIGNED_HEADERS.difference(signed)
    if missing:
        # Every Tencent SDK (and tccli through the Python one) signs both; an unsigned Host would let a
        # signed request be replayed at another endpoint, an unsigned Content-Type change how it is read.
        raise ApiError("AuthFailure.InvalidAuthorization",
                       f"SignedHeaders must include {' and '.join(sorted(missing))} (sign content-type;host).")
    return Credential(secret_id, date, service, signed, signature)


_HEX = frozenset("0123456789abcdef")


def _is_hex_digest(value: str) -> bool:
    """What the SDK sends: 64 lowercase hex digits. Anything else (non-ASCII above all, which
    hmac.compare_digest refuses to compare) is a malformed header, not a wrong signature."""
    return len(value) == 64 and _HEX.issuperset(value)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def expected_signature(
    *,
    secret_key: str,
    method: str,
    query: str,
    headers: dict[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
    timestamp: str,
    date: str,
    service: str,
) -> str:
    canonical_headers = "".join(f"{name}:{headers.get(name, '')}\n" for name in signed_headers)
    if headers.get("x-tc-content-sha256") == UNSIGNED:
        payload_hash = hashlib.sha256(UNSIGNED.encode()).hexdigest()
    else:
        payload_hash = hashlib.sha256(body).hexdigest()
    canonical_request = "\n".join(
        [method, "/", query, canonical_headers, ";".join(signed_headers), payload_hash]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    return hmac.new(signing_key(secret_key, date, service), string_to_sign.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=256)
def signing_key(secret_key: str, date: str, service: str) -> bytes:
    """The same for a day per key and service: derived once, not three HMACs per request."""
    k_date = _hmac(("TC3" + secret_key).encode(), date)
    k_service = _hmac(k_date, service)
    return _hmac(k_service, "tc3_request")


def check_timestamp(timestamp: str | None, now: float, window: int) -> None:
    try:
        ts = int(timestamp or "")
    except ValueError:
        raise ApiError("MissingParameter", "The request is missing a valid X-TC-Timestamp header.") from None
    if abs(now - ts) > window:
        stamp = datetime.fromtimestamp(ts, UTC).isoformat() if 0 <= ts < 2**33 else str(ts)
        raise ApiError(
            "AuthFailure.SignatureExpire",
            f"The request timestamp {stamp} is more than {window} seconds away from the server time.",
        )


def without_port(host: str) -> str | None:
    """`127.0.0.1:4566` → `127.0.0.1` (also `[::1]:4566` → `[::1]`); None when there is no port to drop."""
    name, sep, port = host.rpartition(":")
    if not sep or not port.isdigit() or not name or name.endswith(":"):
        return None
    return name


def verify(credential: Credential, secret_key: str, *, headers: dict[str, str], **request: object) -> None:
    def matches(signed_headers: dict[str, str]) -> bool:
        expected = expected_signature(
            secret_key=secret_key,
            signed_headers=credential.signed_headers,
            date=credential.date,
            service=credential.service,
            headers=signed_headers,
            **request,  # type: ignore[arg-type]
        )
        return hmac.compare_digest(expected, credential.signature)

    if matches(headers):
        return
    hostname = without_port(headers.get("host", "")) if "host" in credential.signed_headers else None
    if hostname is None or not matches({**headers, "host": hostname}):
        raise ApiError(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        )
