"""Times are UTC datetimes in code and integer microseconds in SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["from_us", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch; `value` must be timezone-aware."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int | None) -> datetime | None:
    """The UTC datetime for microseconds since the epoch (None stays None)."""
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=value)
