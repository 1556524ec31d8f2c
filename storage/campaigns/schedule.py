"""Schedule arithmetic of campaigns (002's Future and Recursive schedules), as pure functions over
IANA time zones (zoneinfo). Every instant returned is a UTC datetime.

Local times that the zone skips or repeats (daylight saving) are resolved one way everywhere:
a time in a spring gap moves forward by the gap (02:30 on the day Warsaw jumps from 02:00 to
03:00 is 03:30 CEST); a time in an autumn fold is its first occurrence (02:30 on the day Warsaw
falls back is 02:30 CEST, and a recurrence fires once, not twice). This is PEP 495's `fold=0`.

A recurrence is stored as {"days_of_week", "days_of_month", "months", "hours", "minutes",
"max_instances"}: each of the first five a sorted list of numbers or "*" (every value). Days of
the week are cron's: 0 is Sunday, 1 Monday ... 6 Saturday (7 is taken as Sunday too), and English
names or their three-letter forms are accepted (Sun, Monday, ...). Like cron, when both days of
the week and days of the month are restricted, a day matching either is a match; when one is
"*", the other decides. `max_instances` 0 means no limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HORIZON_DAYS = 5 * 366  # a recurrence that matches nothing within about five years never fires
ANY = "*"

WEEKDAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_WEEKDAYS = {
    spelling: number for number, name in enumerate(WEEKDAY_NAMES) for spelling in (name, name[:3])
}
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


class ScheduleError(ValueError):
    """A date, time, time zone or recurrence field that cannot be used."""


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone named `name` ("Europe/Warsaw", "UTC"); ScheduleError when unknown."""
    cleaned = str(name or "").strip()
    if not cleaned or cleaned.startswith(("/", ".")) or ".." in cleaned:
        raise ScheduleError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def parse_date(text: str) -> date:
    """'YYYY-MM-DD' as a date; ScheduleError otherwise."""
    match = _DATE.fullmatch(str(text or "").strip())
    if match is None:
        raise ScheduleError(f"not a date (YYYY-MM-DD): {text!r}")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise ScheduleError(f"not a date: {text!r}") from None


def parse_time(text: str) -> time:
    """'HH:MM' or 'HH:MM:SS' as a time; ScheduleError otherwise."""
    match = _TIME.fullmatch(str(text or "").strip())
    if match is None:
        raise ScheduleError(f"not a time (HH:MM[:SS]): {text!r}")
    hour, minute, second = (int(part or 0) for part in match.groups())
    try:
        return time(hour, minute, second)
    except ValueError:
        raise ScheduleError(f"not a time: {text!r}") from None


def _to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant of a wall-clock time in `zone`: fold=0, so a skipped time moves forward by
    the gap and a repeated one is its first occurrence."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_instant(date_text: str, time_text: str, zone: str) -> datetime:
    """The UTC instant of SendDate + SendTime in SendTimeZone."""
    return _to_utc(parse_date(date_text), parse_time(time_text), zone_of(zone))


@dataclass(frozen=True)
class _Field:
    key: str
    low: int
    high: int


_FIELDS = (
    _Field("days_of_week", 0, 6),
    _Field("days_of_month", 1, 31),
    _Field("months", 1, 12),
    _Field("hours", 0, 23),
    _Field("minutes", 0, 59),
)


def checked_field(key: str, value: Any) -> list[int] | str | None:
    """One recurrence field from the request (a comma-separated text, a list, or '*'): a sorted
    list of numbers, or '*'; None when the value is empty. ScheduleError for values out of
    range or not numbers (days of the week may be names)."""
    spec = next(field for field in _FIELDS if field.key == key)
    items = value if isinstance(value, list) else str(value if value is not None else "").split(",")
    texts = [str(item).strip() for item in items if str(item).strip() != ""]
    if not texts:
        return None
    if ANY in texts:
        return ANY
    numbers: set[int] = set()
    for text in texts:
        number = _WEEKDAYS.get(text.lower()) if key == "days_of_week" else None
        if number is None:
            try:
                number = int(text)
            except ValueError:
                raise ScheduleError(f"{key}: not a number: {text!r}") from None
            if key == "days_of_week" and number == 7:
                number = 0
        if not spec.low <= number <= spec.high:
            raise ScheduleError(f"{key}: {number} is out of {spec.low}-{spec.high}")
        numbers.add(number)
    return sorted(numbers)


def _matches(allowed: list[int] | str, value: int) -> bool:
    return allowed == ANY or value in allowed


def _day_matches(recurrence: dict[str, Any], day: date) -> bool:
    if not _matches(recurrence.get("months", ANY), day.month):
        return False
    weekdays = recurrence.get("days_of_week") or ANY
    monthdays = recurrence.get("days_of_month") or ANY
    by_week = _matches(weekdays, (day.weekday() + 1) % 7)  # cron: 0 is Sunday
    by_month = _matches(monthdays, day.day)
    if weekdays != ANY and monthdays != ANY:
        return by_week or by_month
    return by_week and by_month


def _times(recurrence: dict[str, Any]) -> list[time]:
    hours = recurrence.get("hours", ANY)
    minutes = recurrence.get("minutes", ANY)
    hour_list = range(24) if hours == ANY else hours
    minute_list = range(60) if minutes == ANY else minutes
    return [time(hour, minute) for hour in hour_list for minute in minute_list]


def _days_from(start: date) -> Iterator[date]:
    for offset in range(HORIZON_DAYS + 1):
        yield start + timedelta(days=offset)


def next_recurrence(
    recurrence: dict[str, Any], zone: str, after: datetime, instances: int = 0
) -> datetime | None:
    """The first instant strictly after `after` that the recurrence matches in `zone`'s local
    time; None when `instances` runs have reached `max_instances` (0: no limit) or nothing
    matches within about five years. `after` is an aware datetime (naive is taken as UTC)."""
    maximum = int(recurrence.get("max_instances") or 0)
    if maximum and instances >= maximum:
        return None
    tz = zone_of(zone)
    moment = after if after.tzinfo is not None else after.replace(tzinfo=UTC)
    times = _times(recurrence)
    # A day starts on the local date before `after`'s: a gap moves times forward past midnight
    # only in zones that skip midnight, and the day before costs nothing to look at.
    first_day = moment.astimezone(tz).date() - timedelta(days=1)
    for day in _days_from(first_day):
        if not _day_matches(recurrence, day):
            continue
        # Within one day instants are not always in wall-clock order (a skipped 02:30 moves to
        # 03:30, after 03:15), so the earliest of the day's instants after `after` is taken.
        later = [instant for at in times if (instant := _to_utc(day, at, tz)) > moment]
        if later:
            return min(later)
    return None
