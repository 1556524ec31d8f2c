"""Values written the way the API documents show them, shared by /api.php and /api/v1."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(moment: datetime | None) -> str:
    """004's timestamps: `2021-04-01T12:00:00Z` (UTC, whole seconds); "" for no time at all."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
