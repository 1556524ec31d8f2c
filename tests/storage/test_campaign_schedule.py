"""Schedule arithmetic of campaigns: local send times and recurrences in real time zones, across
daylight-saving gaps and folds, leap days and short months."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from storage.campaigns.schedule import (
    ANY,
    ScheduleError,
    checked_field,
    local_instant,
    next_recurrence,
    zone_of,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "at", "zone", "expected"),
    [
        ("2025-06-01", "10:00", "UTC", utc(2025, 6, 1, 10)),
        ("2025-06-01", "10:00:30", "Europe/Warsaw", utc(2025, 6, 1, 8, 0, 30)),  # CEST +2
        ("2025-01-15", "10:00", "Europe/Warsaw", utc(2025, 1, 15, 9)),  # CET +1
        ("2025-01-15", "10:00", "America/New_York", utc(2025, 1, 15, 15)),  # EST -5
        ("2025-07-04", "9:05", "America/New_York", utc(2025, 7, 4, 13, 5)),  # EDT -4
        ("2025-03-30", "01:59", "Europe/Warsaw", utc(2025, 3, 30, 0, 59)),  # before the gap
        # 02:00-03:00 does not exist on 30 March 2025 in Warsaw: moved forward by the hour
        ("2025-03-30", "02:00", "Europe/Warsaw", utc(2025, 3, 30, 1)),
        ("2025-03-30", "02:30", "Europe/Warsaw", utc(2025, 3, 30, 1, 30)),
        ("2025-03-30", "03:00", "Europe/Warsaw", utc(2025, 3, 30, 1)),
        # 02:00-03:00 happens twice on 26 October 2025: the first one (CEST)
        ("2025-10-26", "02:30", "Europe/Warsaw", utc(2025, 10, 26, 0, 30)),
        ("2025-10-26", "03:00", "Europe/Warsaw", utc(2025, 10, 26, 2)),
        # New York: 02:00 -> 03:00 on 9 March 2025, 02:00 -> 01:00 on 2 November 2025
        ("2025-03-09", "02:30", "America/New_York", utc(2025, 3, 9, 7, 30)),
        ("2025-11-02", "01:30", "America/New_York", utc(2025, 11, 2, 5, 30)),
        ("2024-02-29", "12:00", "Asia/Tokyo", utc(2024, 2, 29, 3)),
        ("2025-06-01", "00:00", "Asia/Kolkata", utc(2025, 5, 31, 18, 30)),
    ],
)
def test_local_instant(day: str, at: str, zone: str, expected: datetime) -> None:
    assert local_instant(day, at, zone) == expected


@pytest.mark.parametrize(
    ("day", "at", "zone"),
    [
        ("2025-02-29", "10:00", "UTC"),  # not a leap year
        ("2025-13-01", "10:00", "UTC"),
        ("01/06/2025", "10:00", "UTC"),
        ("2025-06-01", "24:00", "UTC"),
        ("2025-06-01", "10:60", "UTC"),
        ("2025-06-01", "10", "UTC"),
        ("2025-06-01", "10:00", "Mars/Olympus"),
        ("2025-06-01", "10:00", ""),
        ("2025-06-01", "10:00", "../../etc/passwd"),
    ],
)
def test_local_instant_refuses_what_it_cannot_read(day: str, at: str, zone: str) -> None:
    with pytest.raises(ScheduleError):
        local_instant(day, at, zone)


def test_zones_are_iana_names() -> None:
    assert str(zone_of(" Europe/Warsaw ")) == "Europe/Warsaw"
    for wrong in ("CEST+2", "/etc/localtime", "Europe/"):
        with pytest.raises(ScheduleError):
            zone_of(wrong)


def test_recurrence_fields() -> None:
    assert checked_field("days_of_week", "Mon, fri,SUNDAY") == [0, 1, 5]
    assert checked_field("days_of_week", "7,0,6") == [0, 6]  # 7 is Sunday as in cron
    assert checked_field("days_of_month", [31, "1", 15]) == [1, 15, 31]
    assert checked_field("months", "*") == ANY
    assert checked_field("hours", "1,*") == ANY
    assert checked_field("minutes", " , ") is None
    assert checked_field("minutes", None) is None
    for key, wrong in [
        ("days_of_week", "8"),
        ("days_of_week", "Funday"),
        ("days_of_month", "0"),
        ("days_of_month", "32"),
        ("months", "13"),
        ("hours", "24"),
        ("minutes", "60"),
        ("minutes", "-1"),
        ("hours", "1.5"),
    ]:
        with pytest.raises(ScheduleError):
            checked_field(key, wrong)


def rec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "days_of_week": None,
        "days_of_month": None,
        "months": ANY,
        "hours": [9],
        "minutes": [0],
        "max_instances": 0,
    }
    return base | fields


@pytest.mark.parametrize(
    ("recurrence", "zone", "after", "expected"),
    [
        # every day at 09:00 Warsaw, in winter (+1) and in summer (+2)
        (rec(), "Europe/Warsaw", utc(2025, 1, 10, 7), utc(2025, 1, 10, 8)),
        (rec(), "Europe/Warsaw", utc(2025, 1, 10, 8), utc(2025, 1, 11, 8)),  # strictly after
        (rec(), "Europe/Warsaw", utc(2025, 7, 10, 8), utc(2025, 7, 11, 7)),
        # across the spring change the local time stays 09:00
        (rec(), "Europe/Warsaw", utc(2025, 3, 29, 9), utc(2025, 3, 30, 7)),
        (rec(), "America/New_York", utc(2025, 11, 1, 14), utc(2025, 11, 2, 14)),
        # 02:30 daily: on the spring day it does not exist, it fires at 03:30 (01:30 UTC)
        (
            rec(hours=[2], minutes=[30]),
            "Europe/Warsaw",
            utc(2025, 3, 29, 2),
            utc(2025, 3, 30, 1, 30),
        ),
        (
            rec(hours=[2], minutes=[30]),
            "Europe/Warsaw",
            utc(2025, 3, 30, 1, 30),
            utc(2025, 3, 31, 0, 30),
        ),
        # in the autumn fold it fires once, at the first 02:30 (CEST)
        (
            rec(hours=[2], minutes=[30]),
            "Europe/Warsaw",
            utc(2025, 10, 25, 1),
            utc(2025, 10, 26, 0, 30),
        ),
        (
            rec(hours=[2], minutes=[30]),
            "Europe/Warsaw",
            utc(2025, 10, 26, 0, 30),
            utc(2025, 10, 27, 1, 30),
        ),
        # New York's 01:30 on 2 November 2025 happens twice: only the first (EDT) counts
        (
            rec(hours=[1], minutes=[30]),
            "America/New_York",
            utc(2025, 11, 2, 5, 30),
            utc(2025, 11, 3, 6, 30),
        ),
        # every 15 minutes in the New York spring gap: 01:45 EST, then 03:00 EDT
        (
            rec(hours=ANY, minutes=[0, 15, 30, 45]),
            "America/New_York",
            utc(2025, 3, 9, 6, 45),
            utc(2025, 3, 9, 7, 0),
        ),
        # the skipped 02:00 moves to 03:00, which 03:00 itself is: no instant before it is lost
        (
            rec(hours=[2, 3], minutes=[0, 15]),
            "America/New_York",
            utc(2025, 3, 9, 6),
            utc(2025, 3, 9, 7, 0),
        ),
        (
            rec(hours=[2, 3], minutes=[0, 15]),
            "America/New_York",
            utc(2025, 3, 9, 7, 0),
            utc(2025, 3, 9, 7, 15),
        ),
        # Mondays and Fridays (cron: 1 and 5); 2025-01-10 is a Friday
        (rec(days_of_week=[1, 5]), "UTC", utc(2025, 1, 10, 9), utc(2025, 1, 13, 9)),
        (rec(days_of_week=[0]), "UTC", utc(2025, 1, 10, 9), utc(2025, 1, 12, 9)),  # Sunday
        # the 31st: skips the months without one
        (rec(days_of_month=[31]), "UTC", utc(2025, 1, 31, 10), utc(2025, 3, 31, 9)),
        (rec(days_of_month=[31]), "UTC", utc(2025, 4, 1), utc(2025, 5, 31, 9)),
        # 29 February: the next leap year
        (
            rec(days_of_month=[29], months=[2]),
            "Europe/Warsaw",
            utc(2024, 3, 1),
            utc(2028, 2, 29, 8),
        ),
        # days of week OR days of month (cron): the 15th, or any Sunday, in June only
        (
            rec(days_of_week=[0], days_of_month=[15], months=[6]),
            "UTC",
            utc(2025, 6, 1, 10),
            utc(2025, 6, 8, 9),
        ),
        (
            rec(days_of_week=[0], days_of_month=[15], months=[6]),
            "UTC",
            utc(2025, 6, 13),
            utc(2025, 6, 15, 9),
        ),
        (
            rec(days_of_week=[0], days_of_month=[15], months=[6]),
            "UTC",
            utc(2025, 6, 30),
            utc(2026, 6, 7, 9),
        ),
        # every minute
        (
            rec(hours=ANY, minutes=ANY),
            "Europe/Warsaw",
            utc(2025, 5, 5, 5, 5, 5),
            utc(2025, 5, 5, 5, 6),
        ),
        # the local date differs from UTC's: Tokyo's Monday 08:00 is Sunday 23:00 UTC
        (rec(days_of_week=[1], hours=[8]), "Asia/Tokyo", utc(2025, 1, 10), utc(2025, 1, 12, 23)),
        (
            rec(days_of_week=[0], hours=[20]),
            "America/New_York",
            utc(2025, 1, 10),
            utc(2025, 1, 13, 1),
        ),
    ],
)
def test_next_recurrence(
    recurrence: dict[str, Any], zone: str, after: datetime, expected: datetime
) -> None:
    assert next_recurrence(recurrence, zone, after) == expected


def test_a_recurrence_ends_at_its_maximum_or_when_nothing_matches() -> None:
    three = rec(max_instances=3)
    assert next_recurrence(three, "UTC", utc(2025, 1, 1), instances=2) == utc(2025, 1, 1, 9)
    assert next_recurrence(three, "UTC", utc(2025, 1, 1), instances=3) is None
    assert next_recurrence(rec(), "UTC", utc(2025, 1, 1), instances=10_000) is not None
    never = rec(days_of_month=[30], months=[2])
    assert next_recurrence(never, "UTC", utc(2025, 1, 1)) is None
    with pytest.raises(ScheduleError):
        next_recurrence(rec(), "Nowhere/Land", utc(2025, 1, 1))


def test_naive_after_is_utc() -> None:
    assert next_recurrence(rec(), "UTC", datetime(2025, 1, 1, 8)) == utc(2025, 1, 1, 9)
