"""Timestamps as the seeds write them: ``2026-01-17T12:00:00Z`` (UTC, whole seconds)."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_z(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
