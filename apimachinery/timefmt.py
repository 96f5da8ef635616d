"""Kubernetes' time formats: `metav1.Time` (RFC 3339, seconds) and `MicroTime`."""

from __future__ import annotations

from datetime import datetime


def parse_time(s: str | None) -> float | None:
    """Unix seconds of an RFC 3339 time (`2026-01-01T00:00:00Z`), None when empty or unreadable."""
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
