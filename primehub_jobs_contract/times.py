"""Times on the wire and in stores: aware UTC, millisecond precision, ISO 8601 with ``Z``."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Aware UTC now, at the millisecond precision that is stored and sent."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with a trailing ``Z`` (what JavaScript's ``Date`` parses), or None."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(value: str | None) -> datetime | None:
    """Inverse of :func:`iso` (None or "" -> None)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
