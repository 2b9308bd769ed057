"""Time formats differ by service: CVM/AS/VPC use ISO-8601 with Z, CBS/CLB a plain local-looking form."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def plain(ts: datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else None


def as_utc(ts: datetime) -> datetime:
    # SQLite hands datetimes back naive; everything we store is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
