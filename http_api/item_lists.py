"""A parameter that names several things: comma-separated text or a list (002's Tags, Campaigns,
RecipientListsAndSegments; 003's list and group hashes)."""

from __future__ import annotations

from typing import Any


def split_items(value: Any) -> list[str]:
    """A comma-separated parameter (or a list) as its non-empty, trimmed items."""
    items = value if isinstance(value, list) else str(value if value is not None else "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]
