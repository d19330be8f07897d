"""Times as the tables store them (naive UTC ``datetime``) and as answers write them (ISO 8601
text with a ``Z``)."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now in UTC as a naive datetime (the form stored in the database)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp with microseconds and a ``Z`` suffix."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (the service-info / token endpoint format)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
