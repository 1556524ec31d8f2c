"""storage.row_ids: the ids storage reads out of text and JSON are those a row can have."""

from __future__ import annotations

from typing import Any

import pytest

from storage.row_ids import MAX_ROW_ID, row_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (12, 12),
        (" 12 ", 12),
        ("0012", 12),
        (MAX_ROW_ID, MAX_ROW_ID),
        (str(MAX_ROW_ID), MAX_ROW_ID),
        (MAX_ROW_ID + 1, None),  # OverflowError at the driver
        (str(MAX_ROW_ID + 1), None),
        ("9" * 5000, None),  # int() itself refuses more than 4300 digits
        (-1, None),
        ("-1", None),
        ("\u00b2", None),  # isdigit(), but int() raises ValueError
        ("\u0661\u0662", None),  # Arabic-Indic digits: not how an id is written
        ("1.5", None),
        (1.0, None),
        (True, None),
        (None, None),
        ("", None),
    ],
)
def test_row_id(value: Any, expected: int | None) -> None:
    assert row_id(value) == expected
