"""Campaigns and their emails (002's `Campaign.*`, `Campaigns.*` and `Email.*`), for /api.php and
/rest alike: creation, owner-scoped lookup by id or hash, updates, copies, soft deletion,
listing, and the status a campaign takes when it is made Ready or approved.

Every lookup is scoped to the owner, and a deleted campaign is found by nobody (it stays in the
table for its reports and events). A campaign's content is a CampaignEmail: each campaign gets
its own at creation; `RelEmailID` points it at another of the owner's emails, and content
changes (Campaign.Update's Subject, HTMLContent, ...) write whichever email it points at.

Status rules (what `Campaign.Update`'s CampaignStatus and `Campaign.Approve` do):
- Ready checks that the campaign can be sent (a subject, a body or a URL to fetch it from, a
  From address, and an audience), then: Pending approval when the account requires approval;
  otherwise Immediate (or no schedule) is Ready, due now; Future is Scheduled at SendDate +
  SendTime in SendTimeZone; Recursive is Scheduled at its first recurrence after now.
- Draft takes a campaign that has not started back (Ready, Scheduled, Pending approval, Failed).
- A Ready or Scheduled campaign whose content, audience or schedule changes is checked and
  scheduled again; on an account that requires approval it waits for approval again.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    cast,
    func,
    insert,
    or_,
    select,
    update,
)

from storage.campaign_audience import checked_rules_bundle, run_plan
from storage.campaign_runs import cancel_campaign, pause_campaign, resume_campaign
from storage.campaign_schedule import (
    ScheduleError,
    checked_field,
    local_instant,
    next_recurrence,
    zone_of,
)
from storage.engine import Database
from storage.models import (
    Campaign,
    CampaignEmail,
    CampaignStatus,
    ScheduleType,
    Segment,
    SubscriberList,
    User,
    utcnow,
)
from storage.row_ids import row_id
from storage.subscriber_lists import new_hash, retrying_hash_clash

NAME_LIMIT = 255
TAG_LIMIT = 64

# --- emails -----------------------------------------------------------------------------------

EMAIL_FIELDS = (
    "name",
    "subject",
    "from_name",
    "from_email",
    "reply_to_name",
    "reply_to_email",
    "html",
    "text",
    "content_url",
)
# The longest value of each bounded column (Text columns have none).
_EMAIL_LIMITS = {
    column.name: column.type.length
    for column in CampaignEmail.__table__.columns
    if isinstance(column.type, String) and column.type.length
}


@dataclass(frozen=True)
class EmailView:
    id: int
    user_id: int
    name: str
    subject: str
    from_name: str
    from_email: str
    reply_to_name: str
    reply_to_email: str
    html: str
    text: str
    content_url: str | None
    created_at: datetime
    updated_at: datetime | None


class ContentTooLong(ValueError):
    """A content value longer than its column (subject 998 characters, names 255, ...)."""


def checked_content(values: dict[str, str | None]) -> dict[str, str | None]:
    """Email values as stored; ContentTooLong for one longer than its column. An empty
    content_url is None (no URL)."""
    checked: dict[str, str | None] = {}
    for key, value in values.items():
        if key not in EMAIL_FIELDS:
            raise KeyError(key)
        text = None if value is None else str(value)
        limit = _EMAIL_LIMITS.get(key)
        if limit is not None and text is not None and len(text) > limit:
            raise ContentTooLong(f"{key} is longer than {limit} characters")
        if key == "content_url":
            text = (text or "").strip() or None
        checked[key] = text if key == "content_url" else (text or "")
    return checked


_EMAIL_COLUMNS = [getattr(CampaignEmail, f.name) for f in fields(EmailView)]
_EMAIL_OF_OWNER = select(*_EMAIL_COLUMNS).where(
    CampaignEmail.id == bindparam("id"), CampaignEmail.user_id == bindparam("user_id")
)


def _email_in(conn: Connection, user_id: int, email_id: int) -> EmailView | None:
    row = conn.execute(_EMAIL_OF_OWNER, {"id": email_id, "user_id": user_id}).first()
    return EmailView(*row) if row else None


def _insert_email(conn: Connection, user_id: int, values: dict[str, Any]) -> int:
    statement = insert(CampaignEmail).values(user_id=user_id, **values).returning(CampaignEmail.id)
    return int(conn.execute(statement).scalar_one())


async def create_email(db: Database, user_id: int, values: dict[str, str | None]) -> EmailView:
    """A new email of the account (Email.Create)."""
    checked = checked_content(values)

    def work(conn: Connection) -> EmailView:
        found = _email_in(conn, user_id, _insert_email(conn, user_id, checked))
        assert found is not None
        return found

    return await db.write(work)


async def get_email(db: Database, user_id: int, email_id: int) -> EmailView | None:
    """The owner's email, or None (none, or another account's)."""
    row = await db.first(_EMAIL_OF_OWNER, {"id": email_id, "user_id": user_id})
    return EmailView(*row) if row else None


async def update_email(
    db: Database, user_id: int, email_id: int, values: dict[str, str | None]
) -> EmailView | None:
    """Change the owner's email; None when the owner has no such email."""
    checked = checked_content(values)

    def work(conn: Connection) -> EmailView | None:
        if checked:
            conn.execute(
                update(CampaignEmail)
                .where(CampaignEmail.id == email_id, CampaignEmail.user_id == user_id)
                .values(**checked, updated_at=utcnow())
            )
        return _email_in(conn, user_id, email_id)

    return await db.write(work)


class EmailInUse(Exception):
    """An email that campaigns (not deleted) still send."""


async def delete_email(db: Database, user_id: int, email_id: int) -> bool:
    """Delete the owner's email; False when there is none; EmailInUse while a campaign that is
    not deleted points at it."""

    def work(conn: Connection) -> bool:
        if _email_in(conn, user_id, email_id) is None:
            return False
        users = select(Campaign.id).where(
            Campaign.email_id == email_id, Campaign.deleted_at.is_(None)
        )
        if conn.execute(users.limit(1)).first() is not None:
            raise EmailInUse(email_id)
        # Deleted campaigns keep their row: they lose the pointer (ON DELETE SET NULL, written
        # out for SQLite connections that run without foreign keys).
        conn.execute(update(Campaign).where(Campaign.email_id == email_id).values(email_id=None))
        conn.execute(CampaignEmail.__table__.delete().where(CampaignEmail.id == email_id))
        return True

    return await db.write(work)


# --- campaigns --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignView:
    id: int
    user_id: int
    hash: str
    name: str
    status: CampaignStatus
    email_id: int | None
    audience: dict[str, Any]
    schedule_type: ScheduleType
    send_at: datetime | None
    time_zone: str
    recurrence: dict[str, Any]
    next_run_at: datetime | None
    instances: int
    tags: list[str]
    google_analytics_domains: list[str]
    publish_on_rss: bool
    s2s_enabled: bool
    approval_explanation: str
    resign_link: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime | None
    sent_at: datetime | None
    finished_at: datetime | None

    def local_send(self) -> tuple[str, str]:
        """SendDate and SendTime of a Future schedule, in its time zone ('', '' without)."""
        if self.send_at is None:
            return "", ""
        try:
            local = self.send_at.astimezone(zone_of(self.time_zone))
        except ScheduleError:
            local = self.send_at
        return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


_CAMPAIGN_COLUMNS = [getattr(Campaign, f.name) for f in fields(CampaignView)]
_LIVE_OF_OWNER = and_(Campaign.user_id == bindparam("user_id"), Campaign.deleted_at.is_(None))
_BY_ID = select(*_CAMPAIGN_COLUMNS).where(_LIVE_OF_OWNER, Campaign.id == bindparam("id"))
_BY_HASH = select(*_CAMPAIGN_COLUMNS).where(_LIVE_OF_OWNER, Campaign.hash == bindparam("hash"))


def _view(row: Any) -> CampaignView:
    return CampaignView(*row)


def _campaign_in(
    conn: Connection, user_id: int, campaign_id: int, locked: bool = False
) -> CampaignView | None:
    """Inside a transaction; `locked` takes the row (FOR UPDATE on PostgreSQL; SQLite's one
    writer at a time needs none) so that the scheduler cannot start it meanwhile."""
    statement = _BY_ID.with_for_update() if locked else _BY_ID
    row = conn.execute(statement, {"user_id": user_id, "id": campaign_id}).first()
    return _view(row) if row else None


async def get_campaign(db: Database, user_id: int, campaign_id: int) -> CampaignView | None:
    """The owner's campaign with this id; None when there is none, it is another account's,
    or it is deleted."""
    row = await db.first(_BY_ID, {"user_id": user_id, "id": campaign_id})
    return _view(row) if row else None


async def get_campaign_by_hash(
    db: Database, user_id: int, campaign_hash: str
) -> CampaignView | None:
    """The owner's campaign with this hash (/rest's id_hash), as get_campaign."""
    row = await db.first(_BY_HASH, {"user_id": user_id, "hash": str(campaign_hash)})
    return _view(row) if row else None


def _empty_audience() -> dict[str, Any]:
    return {"lists": [], "exclude": [], "rules": None}


def _insert_campaign(conn: Connection, values: dict[str, Any]) -> int:
    statement = insert(Campaign).values(**values).returning(Campaign.id)
    return int(conn.execute(statement).scalar_one())


class NameRequired(ValueError):
    """A campaign without a name (or with one longer than 255 characters)."""


async def create_campaign(db: Database, user_id: int, name: str) -> CampaignView:
    """A new Draft campaign of the account, with its own (empty) email."""
    cleaned = str(name or "").strip()
    if not cleaned or len(cleaned) > NAME_LIMIT:
        raise NameRequired(name)

    def work(conn: Connection) -> CampaignView:
        campaign_hash = new_hash()
        email_id = _insert_email(conn, user_id, {"name": cleaned})
        values = {
            "user_id": user_id,
            "hash": campaign_hash,
            "name": cleaned,
            "email_id": email_id,
            "audience": _empty_audience(),
        }
        found = _campaign_in(conn, user_id, _insert_campaign(conn, values))
        assert found is not None
        return found

    return await retrying_hash_clash(db, work)


_COPIED = (
    "name",
    "audience",
    "time_zone",
    "tags",
    "google_analytics_domains",
    "publish_on_rss",
    "s2s_enabled",
    "approval_explanation",
    "resign_link",
)


async def copy_campaign(db: Database, user_id: int, campaign_id: int) -> CampaignView | None:
    """A new Draft with the source's settings (same name) and a copy of its email, and no
    schedule (Not Scheduled, no send time, no recurrence, no runs); None when the owner has no
    such campaign."""

    def work(conn: Connection) -> CampaignView | None:
        campaign_hash = new_hash()
        source = conn.execute(
            select(Campaign.email_id, *(getattr(Campaign, key) for key in _COPIED)).where(
                Campaign.id == campaign_id,
                Campaign.user_id == user_id,
                Campaign.deleted_at.is_(None),
            )
        ).first()
        if source is None:
            return None
        email = _email_in(conn, user_id, source.email_id) if source.email_id else None
        content = {key: getattr(email, key) for key in EMAIL_FIELDS} if email else {}
        values = {key: getattr(source, key) for key in _COPIED}
        values |= {
            "user_id": user_id,
            "hash": campaign_hash,
            "email_id": _insert_email(conn, user_id, content),
        }
        return _campaign_in(conn, user_id, _insert_campaign(conn, values))

    copied = await retrying_hash_clash(db, work)
    return copied


# --- deleting, pausing, resuming, canceling -----------------------------------------------------


class Outcome(enum.Enum):
    DONE = "done"
    NOT_FOUND = "not found"  # none, another account's, or deleted
    WRONG_STATE = "wrong state"  # not Sending (pause), not Paused (resume), over (cancel)


RUNNING = (CampaignStatus.SENDING, CampaignStatus.PAUSED)
NOT_STARTED = (
    CampaignStatus.DRAFT,
    CampaignStatus.READY,
    CampaignStatus.SCHEDULED,
    CampaignStatus.PENDING_APPROVAL,
)


async def _guarded(
    db: Database, user_id: int, campaign_id: int, change: Callable[[Database, int], Awaitable[bool]]
) -> Outcome:
    """The owner's campaign changed by a status-guarded operation of storage.campaign_runs."""
    if await get_campaign(db, user_id, campaign_id) is None:
        return Outcome.NOT_FOUND
    return Outcome.DONE if await change(db, campaign_id) else Outcome.WRONG_STATE


async def pause(db: Database, user_id: int, campaign_id: int) -> Outcome:
    """Pause the owner's Sending campaign (queueing stops, queued recipients are held)."""
    return await _guarded(db, user_id, campaign_id, pause_campaign)


async def resume(db: Database, user_id: int, campaign_id: int) -> Outcome:
    """Resume the owner's Paused campaign where it stopped."""
    return await _guarded(db, user_id, campaign_id, resume_campaign)


async def _cancel(db: Database, found: CampaignView) -> Outcome:
    if found.status is CampaignStatus.CANCELED:
        return Outcome.DONE
    return Outcome.DONE if await cancel_campaign(db, found.id) else Outcome.WRONG_STATE


async def cancel(db: Database, user_id: int, campaign_id: int) -> Outcome:
    """Cancel the owner's campaign: one not started yet is Canceled; a Sending or Paused one
    stops queueing and drops what is not sent; Canceled again is done already; Sent and Failed
    are over (WRONG_STATE)."""
    found = await get_campaign(db, user_id, campaign_id)
    if found is None:
        return Outcome.NOT_FOUND
    return await _cancel(db, found)


async def unknown_campaigns(db: Database, user_id: int, campaign_ids: Sequence[int]) -> list[int]:
    """The ids among `campaign_ids` that name no live campaign of the owner (another account's,
    none, or deleted), so that a request naming one can be refused before anything changes."""
    wanted = list(dict.fromkeys(campaign_ids))
    statement = select(Campaign.id).where(
        Campaign.user_id == user_id, Campaign.deleted_at.is_(None), Campaign.id.in_(wanted)
    )
    found = {int(found_id) for (found_id,) in await db.rows(statement)}
    return [campaign_id for campaign_id in wanted if campaign_id not in found]


async def delete_campaigns(db: Database, user_id: int, campaign_ids: Sequence[int]) -> list[int]:
    """Soft-delete the owner's campaigns among `campaign_ids` (others' and unknown ids are left
    alone); a Sending or Paused one is canceled first. Returns the ids deleted."""
    deleted: list[int] = []
    for campaign_id in dict.fromkeys(campaign_ids):
        found = await get_campaign(db, user_id, campaign_id)
        if found is None:
            continue
        if found.status in RUNNING:
            await _cancel(db, found)
        statement = (
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.deleted_at.is_(None))
            .values(deleted_at=utcnow(), next_run_at=None)
        )
        if await db.write(lambda conn, s=statement: conn.execute(s).rowcount):
            deleted.append(campaign_id)
    return deleted


# --- listing ------------------------------------------------------------------------------------

ORDER_FIELDS = {
    "campaignname": func.lower(Campaign.name),  # without regard to case, on every backend
    "campaignid": Campaign.id,
    "campaignstatus": Campaign.status,
    "senddate": func.coalesce(Campaign.sent_at, Campaign.send_at, Campaign.next_run_at),
    "created": Campaign.created_at,
    "createdate": Campaign.created_at,
}


@dataclass(frozen=True)
class CampaignQuery:
    statuses: Sequence[CampaignStatus] = ()  # () is every status
    keyword: str = ""
    order_field: str = "campaignid"  # a key of ORDER_FIELDS (unknown: campaign id)
    descending: bool = True
    start: int = 0
    count: int = 100
    tags: Sequence[str] = ()  # campaigns with any of these tags (case-insensitive, ASCII)


def _query_conditions(user_id: int, query: CampaignQuery) -> list[Any]:
    conditions: list[Any] = [Campaign.user_id == user_id, Campaign.deleted_at.is_(None)]
    if query.statuses:
        conditions.append(Campaign.status.in_(list(query.statuses)))
    if query.keyword:
        keyword = query.keyword.lower()
        conditions.append(func.lower(Campaign.name).contains(keyword, autoescape=True))
    if query.tags:
        # Tags are a JSON list of strings: a tag is found as its JSON text, quotes included.
        text = func.lower(cast(Campaign.tags, String))
        tags = [json.dumps(tag.lower()) for tag in query.tags]
        conditions.append(or_(*(text.contains(tag, autoescape=True) for tag in tags)))
    return conditions


async def list_campaigns(
    db: Database, user_id: int, query: CampaignQuery
) -> tuple[int, list[CampaignView]]:
    """(how many of the owner's campaigns match, the page asked for)."""
    conditions = _query_conditions(user_id, query)
    total = await db.scalar(select(func.count()).select_from(Campaign).where(*conditions))
    column = ORDER_FIELDS.get(query.order_field.lower(), Campaign.id)
    ordering = [column.desc(), Campaign.id.desc()] if query.descending else [column, Campaign.id]
    page = (
        select(*_CAMPAIGN_COLUMNS)
        .where(*conditions)
        .order_by(*ordering)
        .offset(max(query.start, 0))
        .limit(max(query.count, 0))
    )
    return int(total or 0), [_view(row) for row in await db.rows(page)]


# --- audience -----------------------------------------------------------------------------------


class UnknownTarget(ValueError):
    """A list or segment that is not the owner's (or not a list id, hash or ListID:SegmentID)."""

    def __init__(self, item: str) -> None:
        super().__init__(f"no list or segment {item!r} of this account")
        self.item = item


def _target(conn: Connection, user_id: int, item: str) -> dict[str, Any]:
    """One RecipientListsAndSegments item: a list id ("12"), a whole list ("12:0"), a segment
    of a list ("12:5"), a list hash, or a segment hash."""
    list_part, _, segment_part = item.partition(":")
    if list_part.isdigit() and (segment_part == "" or segment_part.isdigit()):
        list_number, segment_number = row_id(list_part), row_id(segment_part or "0")
        if list_number is None or segment_number is None:
            raise UnknownTarget(item)  # no row has such an id
        list_id = conn.execute(
            select(SubscriberList.id).where(
                SubscriberList.id == list_number, SubscriberList.user_id == user_id
            )
        ).scalar()
        segment_id = segment_number or None
        if list_id is not None and segment_id is not None:
            segment_id = conn.execute(
                select(Segment.id).where(
                    Segment.id == segment_id,
                    Segment.list_id == list_id,
                    Segment.user_id == user_id,
                )
            ).scalar()
            list_id = list_id if segment_id is not None else None
    elif not segment_part:
        list_id = conn.execute(
            select(SubscriberList.id).where(
                SubscriberList.hash == item, SubscriberList.user_id == user_id
            )
        ).scalar()
        segment_id = None
        if list_id is None:
            found = conn.execute(
                select(Segment.list_id, Segment.id).where(
                    Segment.hash == item, Segment.user_id == user_id
                )
            ).first()
            list_id, segment_id = found if found else (None, None)
    else:
        list_id = None
    if list_id is None:
        raise UnknownTarget(item)
    return {"list_id": int(list_id), "segment_id": segment_id}


def split_items(value: Any) -> list[str]:
    """A comma-separated parameter (or a list) as its non-empty, trimmed items."""
    items = value if isinstance(value, list) else str(value if value is not None else "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def targets_in(conn: Connection, user_id: int, items: Sequence[str]) -> list[dict[str, Any]]:
    """Items as audience entries {"list_id", "segment_id"}, each once; UnknownTarget for one that
    is not the owner's."""
    targets = [_target(conn, user_id, item) for item in items]
    unique = {(t["list_id"], t["segment_id"]): t for t in targets}
    return list(unique.values())


async def resolve_targets(db: Database, user_id: int, items: Sequence[str]) -> list[dict[str, Any]]:
    """targets_in, for callers outside a transaction (REST's `list` and `group` hashes)."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync: targets_in(sync, user_id, items))


async def checked_rules(db: Database, user_id: int, value: Any) -> dict[str, Any]:
    """A RulesJsonBundle (a JSON text or an object) as stored, checked in form and against the
    account's lists and their fields as a run would resolve it; AudienceError otherwise."""
    bundle = checked_rules_bundle(value)
    await run_plan(db, user_id, {"rules": bundle})
    return bundle


# --- schedule -----------------------------------------------------------------------------------


class Missing(enum.Enum):
    """What a schedule lacks (or has in a form that cannot be used): Campaign.Update's 5-13."""

    SCHEDULE_TYPE = 5
    SEND_DATE = 6
    SEND_TIME = 7
    DAYS = 8
    MONTHS = 9
    HOURS = 10
    MINUTES = 11
    MAX_INSTANCES = 12
    TIME_ZONE = 13


class ScheduleProblem(ValueError):
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


# --- updating and status ------------------------------------------------------------------------


class NotSendable(ValueError):
    """A campaign that cannot be made Ready: no content, no sender, no audience, or a schedule
    that never fires."""


class BadStatus(ValueError):
    """A status change the campaign cannot make from where it is (or a status no request sets)."""


REQUESTABLE = {"draft": CampaignStatus.DRAFT, "ready": CampaignStatus.READY}
TO_DRAFT_FROM = (*NOT_STARTED, CampaignStatus.FAILED)
TO_READY_FROM = TO_DRAFT_FROM


def requested_status(text: str) -> CampaignStatus:
    """Campaign.Update's CampaignStatus: Draft or Ready (any case); BadStatus otherwise (the other
    statuses come from sending, Campaign.Pause/Resume/Cancel and Campaign.Approve)."""
    found = REQUESTABLE.get(str(text).strip().lower())
    if found is None:
        raise BadStatus(f"Invalid campaign status: {text!r} (Draft or Ready)")
    return found


@dataclass(frozen=True)
class CampaignUpdate:
    """Campaign.Update's changes; None leaves a value as it is."""

    status: CampaignStatus | None = None
    name: str | None = None
    email_id: int | None = None
    content: dict[str, str | None] = field(default_factory=dict)
    schedule: ScheduleInput = ScheduleInput()
    targets: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    rules: dict[str, Any] | None = None
    clear_rules: bool = False
    tags: Sequence[str] | None = None
    google_analytics_domains: Sequence[str] | None = None
    publish_on_rss: bool | None = None
    s2s_enabled: bool | None = None
    approval_explanation: str | None = None
    resign_link: str | None = None  # "" removes it

    def touches_sending(self) -> bool:
        """Whether the change alters what is sent, to whom or when."""
        return bool(
            self.email_id is not None
            or self.content
            or self.schedule.given()
            or self.targets is not None
            or self.exclude is not None
            or self.rules is not None
            or self.clear_rules
        )


class UnknownEmail(ValueError):
    """RelEmailID names no email of the owner."""


def _requires_approval(conn: Connection, user_id: int) -> bool:
    statement = select(User.requires_campaign_approval).where(User.id == user_id)
    return bool(conn.execute(statement).scalar())


def sendable_problem(view: CampaignView, email: EmailView | None) -> str | None:
    """Why the campaign cannot be sent as it is, or None."""
    if email is None:
        return "the campaign has no email"
    if not email.subject.strip():
        return "the email has no subject"
    if not (email.html.strip() or email.text.strip() or email.content_url):
        return "the email has no content (HTMLContent, PlainContent or FetchURL)"
    if not email.from_email.strip():
        return "the email has no From address (FromEmail)"
    audience = view.audience or {}
    if not (audience.get("rules") or audience.get("lists")):
        return "the campaign has no recipients (RecipientListsAndSegments or RulesJsonBundle)"
    return None


def _first_run(view: CampaignView, now: datetime) -> datetime:
    if view.schedule_type is ScheduleType.FUTURE and view.send_at is not None:
        return view.send_at
    if view.schedule_type is ScheduleType.RECURSIVE:
        try:
            first = next_recurrence(view.recurrence, view.time_zone, now, view.instances)
        except ScheduleError as error:
            raise NotSendable(str(error)) from None
        if first is None:
            raise NotSendable("the recurrence has no instant left (maximum reached, or never)")
        return first
    return now


def _ready_values(
    conn: Connection, view: CampaignView, now: datetime, approval_needed: bool
) -> dict[str, Any]:
    """The status and next run of a campaign made Ready (or approved); NotSendable when it
    cannot be sent."""
    email = _email_in(conn, view.user_id, view.email_id) if view.email_id else None
    problem = sendable_problem(view, email)
    if problem is not None:
        raise NotSendable(problem)
    first = _first_run(view, now)
    if approval_needed:
        return {"status": CampaignStatus.PENDING_APPROVAL, "next_run_at": None}
    values: dict[str, Any] = {"next_run_at": first}
    if view.schedule_type in (ScheduleType.IMMEDIATE, ScheduleType.NOT_SCHEDULED):
        values |= {"status": CampaignStatus.READY, "schedule_type": ScheduleType.IMMEDIATE}
    else:
        values["status"] = CampaignStatus.SCHEDULED
    return values


def _status_values(
    conn: Connection, before: CampaignView, after: CampaignView, wanted: CampaignStatus | None,
    changed_sending: bool, now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The status and next run after an update."""
    if wanted is CampaignStatus.DRAFT:
        if before.status not in TO_DRAFT_FROM:
            raise BadStatus(f"a campaign that is {before.status} cannot go back to Draft")
        return {"status": CampaignStatus.DRAFT, "next_run_at": None}
    approval = _requires_approval(conn, before.user_id)
    if wanted is CampaignStatus.READY:
        if before.status not in TO_READY_FROM:
            raise BadStatus(f"a campaign that is {before.status} cannot be made Ready")
        keep_approval = before.status in (CampaignStatus.READY, CampaignStatus.SCHEDULED)
        return _ready_values(
            conn, after, now, approval and not (keep_approval and not changed_sending)
        )
    if changed_sending and before.status in (
        CampaignStatus.READY,
        CampaignStatus.SCHEDULED,
        CampaignStatus.PENDING_APPROVAL,
    ):
        return _ready_values(conn, after, now, approval)
    return {}


def _audience_after(conn: Connection, view: CampaignView, change: CampaignUpdate) -> dict[str, Any]:
    audience = {**_empty_audience(), **(view.audience or {})}
    if change.targets is not None:
        audience["lists"] = targets_in(conn, view.user_id, change.targets)
    if change.exclude is not None:
        audience["exclude"] = targets_in(conn, view.user_id, change.exclude)
    if change.clear_rules:
        audience["rules"] = None
    if change.rules is not None:
        audience["rules"] = change.rules
    return audience


def _content_written(
    conn: Connection, view: CampaignView, email_id: int | None, content: dict[str, Any]
) -> int | None:
    """Write content into the email the campaign points at (made when it has none)."""
    if not content:
        return email_id
    if email_id is None:
        return _insert_email(conn, view.user_id, {"name": view.name, **content})
    conn.execute(
        update(CampaignEmail)
        .where(CampaignEmail.id == email_id, CampaignEmail.user_id == view.user_id)
        .values(**content, updated_at=utcnow())
    )
    return email_id


def _plain_values(change: CampaignUpdate) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if change.name is not None:
        name = change.name.strip()
        if not name or len(name) > NAME_LIMIT:
            raise NameRequired(change.name)
        values["name"] = name
    for key in ("google_analytics_domains", "publish_on_rss", "s2s_enabled"):
        value = getattr(change, key)
        if value is not None:
            values[key] = list(value) if isinstance(value, (list, tuple)) else value
    if change.tags is not None:
        values["tags"] = checked_tags(change.tags)
    if change.approval_explanation is not None:
        values["approval_explanation"] = change.approval_explanation
    if change.resign_link is not None:
        values["resign_link"] = change.resign_link[:2048] or None
    return values


def checked_tags(tags: Sequence[str]) -> list[str]:
    """Tags as stored: trimmed, each once (first spelling kept, compared without case), at most
    64 characters each."""
    kept: dict[str, str] = {}
    for tag in tags:
        cleaned = str(tag).strip()[:TAG_LIMIT]
        if cleaned:
            kept.setdefault(cleaned.lower(), cleaned)
    return list(kept.values())


async def update_campaign(
    db: Database,
    user_id: int,
    campaign_id: int,
    change: CampaignUpdate,
    now: datetime | None = None,
) -> CampaignView | None:
    """Apply Campaign.Update's changes in one transaction; None when the owner has no such
    campaign. Raises UnknownEmail, UnknownTarget, ScheduleProblem, NameRequired,
    ContentTooLong, BadStatus or NotSendable, and then nothing is changed."""
    moment = now or utcnow()
    content = checked_content(change.content)
    plain = _plain_values(change)

    def work(conn: Connection) -> CampaignView | None:
        before = _campaign_in(conn, user_id, campaign_id, locked=True)
        if before is None:
            return None
        email_id = before.email_id
        if change.email_id is not None:
            if _email_in(conn, user_id, change.email_id) is None:
                raise UnknownEmail(change.email_id)
            email_id = change.email_id
        values: dict[str, Any] = dict(plain)
        if change.schedule.given():
            schedule = resolved_schedule(before, change.schedule)
            values |= {
                "schedule_type": schedule.schedule_type,
                "send_at": schedule.send_at,
                "time_zone": schedule.time_zone,
                "recurrence": schedule.recurrence,
            }
        values["audience"] = _audience_after(conn, before, change)
        values["email_id"] = _content_written(conn, before, email_id, content)
        after = replace(before, **values)
        values |= _status_values(
            conn, before, after, change.status, change.touches_sending(), moment
        )
        conn.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(**values, updated_at=moment)
        )
        return _campaign_in(conn, user_id, campaign_id)

    return await db.write(work)


async def approve(
    db: Database, campaign_id: int, approver_parent: int | None = None, now: datetime | None = None
) -> CampaignView | None:
    """Approve a campaign that is Pending approval: Ready (Immediate) or Scheduled (Future,
    Recursive). `approver_parent`: only a campaign of this account's sub accounts (None: any
    campaign, the gateway's administrator). None when there is no such campaign waiting;
    NotSendable when it can no longer be sent as it is."""
    moment = now or utcnow()

    def work(conn: Connection) -> CampaignView | None:
        owner = select(Campaign.user_id).where(
            Campaign.id == campaign_id, Campaign.deleted_at.is_(None)
        )
        if approver_parent is not None:
            children = select(User.id).where(User.parent_user_id == approver_parent)
            owner = owner.where(Campaign.user_id.in_(children))
        user_id = conn.execute(owner).scalar()
        found = _campaign_in(conn, user_id, campaign_id, True) if user_id is not None else None
        if found is None or found.status is not CampaignStatus.PENDING_APPROVAL:
            return None
        values = _ready_values(conn, found, moment, approval_needed=False)
        conn.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.PENDING_APPROVAL)
            .values(**values, updated_at=moment)
        )
        return _campaign_in(conn, found.user_id, campaign_id)

    return await db.write(work)
