"""A campaign's schedule as a request gives it (type, date, time, zone, recurrence), checked and
merged with the stored one into the schedule that is stored; ScheduleProblem says what is
missing or unusable (each surface words it with its own code)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from storage.campaigns.rows import CampaignView
from storage.campaigns.schedule import ScheduleError, checked_field, local_instant, zone_of
from storage.models import ScheduleType


class Missing(enum.Enum):
    """What a schedule lacks (or has in a form that cannot be used); each surface has its own
    code for each (Campaign.Update's 5-13: http_api.commands.campaigns.SCHEDULE_CODES)."""

    SCHEDULE_TYPE = "schedule type"
    SEND_DATE = "send date"
    SEND_TIME = "send time"
    DAYS = "days"
    MONTHS = "months"
    HOURS = "hours"
    MINUTES = "minutes"
    MAX_INSTANCES = "maximum instances"
    TIME_ZONE = "time zone"


class ScheduleProblem(ValueError):
    """A requested schedule that cannot be stored: what is missing, and a text that says why."""

    def __init__(self, missing: Missing, detail: str) -> None:
        super().__init__(detail)
        self.missing, self.detail = missing, detail


@dataclass(frozen=True)
class ScheduleInput:
    """Schedule parameters as given (None: not given)."""

    schedule_type: str | None = None
    send_date: str | None = None
    send_time: str | None = None
    time_zone: str | None = None
    days_of_week: Any = None
    days_of_month: Any = None
    months: Any = None
    hours: Any = None
    minutes: Any = None
    max_instances: Any = None

    def given(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


@dataclass(frozen=True)
class Schedule:
    schedule_type: ScheduleType
    send_at: datetime | None
    time_zone: str
    recurrence: dict[str, Any]


_SCHEDULE_TYPES = {
    "immediate": ScheduleType.IMMEDIATE,
    "future": ScheduleType.FUTURE,
    "recursive": ScheduleType.RECURSIVE,
    "not scheduled": ScheduleType.NOT_SCHEDULED,
    "notscheduled": ScheduleType.NOT_SCHEDULED,
}
_RECURRENCE = (
    ("days_of_week", None),  # days are checked together (8)
    ("days_of_month", None),
    ("months", Missing.MONTHS),
    ("hours", Missing.HOURS),
    ("minutes", Missing.MINUTES),
)


def schedule_type_of(text: str) -> ScheduleType:
    """A ScheduleType from its name in any case; ScheduleProblem(SCHEDULE_TYPE) otherwise."""
    found = _SCHEDULE_TYPES.get(" ".join(str(text).split()).lower())
    if found is None:
        raise ScheduleProblem(Missing.SCHEDULE_TYPE, f"Invalid schedule type: {text!r}")
    return found


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _zone(given: str | None) -> str:
    if not _present(given):
        raise ScheduleProblem(Missing.TIME_ZONE, "Timezone is required for scheduled campaigns")
    try:
        return str(zone_of(str(given)))
    except ScheduleError as error:
        raise ScheduleProblem(Missing.TIME_ZONE, str(error)) from None


def _future(given: ScheduleInput) -> Schedule:
    if not _present(given.send_date):
        raise ScheduleProblem(Missing.SEND_DATE, "Send date is required for future campaigns")
    if not _present(given.send_time):
        raise ScheduleProblem(Missing.SEND_TIME, "Send time is required for future campaigns")
    zone = _zone(given.time_zone)
    try:
        local_instant(str(given.send_date), "00:00", "UTC")
    except ScheduleError as error:
        raise ScheduleProblem(Missing.SEND_DATE, str(error)) from None
    try:
        send_at = local_instant(str(given.send_date), str(given.send_time), zone)
    except ScheduleError as error:
        raise ScheduleProblem(Missing.SEND_TIME, str(error)) from None
    return Schedule(ScheduleType.FUTURE, send_at, zone, {})


def _recurrence_field(key: str, value: Any, missing: Missing) -> Any:
    try:
        checked = checked_field(key, value)
    except ScheduleError as error:
        raise ScheduleProblem(missing, str(error)) from None
    return checked


def _recursive(given: ScheduleInput) -> Schedule:
    weekdays = _recurrence_field("days_of_week", given.days_of_week, Missing.DAYS)
    monthdays = _recurrence_field("days_of_month", given.days_of_month, Missing.DAYS)
    if weekdays is None and monthdays is None:
        raise ScheduleProblem(
            Missing.DAYS, "Either days of the week or days of the month must be specified"
        )
    recurrence: dict[str, Any] = {"days_of_week": weekdays, "days_of_month": monthdays}
    for key, missing in _RECURRENCE[2:]:
        assert missing is not None
        value = _recurrence_field(key, getattr(given, key), missing)
        if value is None:
            raise ScheduleProblem(missing, f"{missing.name.title()} are required")
        recurrence[key] = value
    recurrence["max_instances"] = _max_instances(given.max_instances)
    return Schedule(ScheduleType.RECURSIVE, None, _zone(given.time_zone), recurrence)


def _max_instances(value: Any) -> int:
    try:
        number = int(str(value).strip()) if _present(value) else -1
    except ValueError:
        number = -1
    if number < 0:
        raise ScheduleProblem(
            Missing.MAX_INSTANCES, "Maximum instances are required (0 for no limit)"
        )
    return number


def _stored_input(view: CampaignView) -> dict[str, Any]:
    """The stored schedule as ScheduleInput values, to fill what an update leaves out."""
    if view.schedule_type is ScheduleType.FUTURE:
        send_date, send_time = view.local_send()
        return {"send_date": send_date, "send_time": send_time, "time_zone": view.time_zone}
    if view.schedule_type is ScheduleType.RECURSIVE:
        stored = {key: view.recurrence.get(key) for key, _ in _RECURRENCE}
        stored = {key: value for key, value in stored.items() if value is not None}
        return stored | {
            "max_instances": view.recurrence.get("max_instances"),
            "time_zone": view.time_zone,
        }
    return {}


def resolved_schedule(view: CampaignView, given: ScheduleInput) -> Schedule:
    """The schedule after an update. With ScheduleType the request gives the whole schedule
    (the values its type needs); without it the stored type stays and the values the request
    leaves out are the stored ones. ScheduleProblem names what is missing or unusable."""
    whole = _present(given.schedule_type)
    new_type = schedule_type_of(str(given.schedule_type)) if whole else view.schedule_type
    values = {f.name: getattr(given, f.name) for f in fields(given)}
    if not whole:
        stored = _stored_input(view)
        values = {
            key: value if _present(value) else stored.get(key) for key, value in values.items()
        }
    merged = ScheduleInput(**values)
    if new_type is ScheduleType.FUTURE:
        return _future(merged)
    if new_type is ScheduleType.RECURSIVE:
        return _recursive(merged)
    zone = view.time_zone if not _present(given.time_zone) else _zone(given.time_zone)
    return Schedule(new_type, None, zone, {})
