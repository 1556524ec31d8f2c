"""Row ids as the database holds them: signed 64-bit integers, on PostgreSQL and SQLite alike.
Storage reads ids out of text and JSON in a few places (audience items such as "12:5", list
keys that are an id or a hash, RulesJson list ids); a number no row can have must never reach
a query, where the driver raised OverflowError for it (an HTTP 500)."""

from __future__ import annotations

from typing import Any

MAX_ROW_ID = 2**63 - 1


def row_id(value: Any) -> int | None:
    """`value` (an int, or its text in ASCII digits) as an id 0..MAX_ROW_ID; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 19:
            return None
        value = int(text)
    if isinstance(value, int) and 0 <= value <= MAX_ROW_ID:
        return value
    return None
