"""Timestamps as the APIs, the cursors and the store write them: ISO 8601 in UTC, to the
second, with a `Z` (Shopify's search syntax and Unleashed's filters both take this form)."""

from __future__ import annotations

from datetime import datetime


def iso(moment: datetime) -> str:
    """`2026-11-01T09:00:00Z` for an aware UTC datetime (other offsets are kept as written)."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """The inverse of `iso`; raises ValueError for text that is not ISO 8601."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
