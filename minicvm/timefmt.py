"""Time formats differ by service: CVM, AS and EIPs use ISO-8601 UTC with Z; CBS, CLB and VPC's own
resources (VPCs, subnets) a plain `YYYY-MM-DD hh:mm:ss` in Beijing time (UTC+8), as recorded real responses show."""

from datetime import UTC, datetime, timedelta
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


_BEIJING_OFFSET = timedelta(hours=8)


def beijing(ts: datetime | None) -> str | None:
    """`YYYY-MM-DD hh:mm:ss` in Beijing time (no zone in the string: Tencent's services that use it never say)."""
    return (_naive_utc(ts) + _BEIJING_OFFSET).isoformat(" ") if ts else None


def as_utc(ts: datetime) -> datetime:
    # SQLite hands datetimes back naive; everything we store is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
