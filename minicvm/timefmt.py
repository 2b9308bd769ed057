"""Time formats differ by service: CVM/AS/VPC use ISO-8601 with Z, CBS/CLB a plain local-looking form."""

from datetime import UTC, datetime
from typing import overload


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _naive_utc(ts: datetime) -> datetime:
    # PostgreSQL hands timestamptz back in the session's zone, SQLite naive: both become naive UTC.
    if ts.tzinfo is not None and ts.utcoffset():
        ts = ts.astimezone(UTC)
    return ts.replace(tzinfo=None, microsecond=0)


@overload
def iso(ts: datetime) -> str: ...
@overload
def iso(ts: datetime | None) -> str | None: ...
def iso(ts: datetime | None) -> str | None:
    # isoformat is several times faster than strftime, and listings format thousands of these.
    return _naive_utc(ts).isoformat() + "Z" if ts else None


def plain(ts: datetime | None) -> str | None:
    return _naive_utc(ts).isoformat(" ") if ts else None


def as_utc(ts: datetime) -> datetime:
    # SQLite hands datetimes back naive; everything we store is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
