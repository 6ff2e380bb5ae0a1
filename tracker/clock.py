"""The one source of "now". Everything that depends on dates takes a clock so tests can move time."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything with a ``now()`` returning an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until moved; for tests and replays."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def advance(self, **kwargs: float) -> datetime:
        """Move forward by ``timedelta(**kwargs)`` and return the new time."""
        self._at = self._at + timedelta(**kwargs)
        return self._at


def ensure_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (SQLite hands them back naive); aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (a trailing Z allowed) into an aware UTC datetime."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return ensure_utc(value)


def iso(value: datetime) -> str:
    """Format as ISO 8601 UTC with a trailing Z, seconds precision kept to microseconds if present."""
    value = ensure_utc(value)
    text = value.isoformat().replace("+00:00", "Z")
    return text
