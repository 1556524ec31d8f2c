"""Reports of sent campaigns (003's `/rest/reports`, and 002's Campaign.Get statistics), read
from the event log with indexed queries, aggregated in SQL.

A campaign's mail is the message of each of its runs (`campaign_runs.message_id`: one stored
message per run, one delivery per recipient; test sends are not runs and are not counted).
Events are found by message (index ix_events_message_delivery) and folded per delivery first,
so that a recipient counts once in each outcome:

- `subscribers`: recipients queued (their `queued` events);
- `delivered`: deliveries accepted by the receiving server and not bounced afterwards (a DSN
  that arrives after acceptance makes it a bounce);
- `hard_bounce` / `soft_bounce`: deliveries that bounced, by the bounce's `bounce_type`
  (a 5xx reply is hard; a message that expired after temporary failures is soft); a delivery
  still being retried (deferred) is neither yet;
- `opened` / `clicked`: every open and click; `unique_opened` / `unique_clicked`: deliveries
  with at least one; `resigned`: deliveries unsubscribed from; `complaints`: deliveries
  complained about.

Times are UTC; the ten-minute periods of `time_details` start on the UTC clock. The list of
sent campaigns counts recipients by the runs' own counters (no event scan per campaign), and a
subscriber's history is the account's campaign runs that queued the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, select

from storage.dialects import time_bucket
from storage.engine import Database
from storage.event_names import EventType
from storage.event_payloads import BounceType
from storage.models import (
    Campaign,
    CampaignEmail,
    CampaignRun,
    Delivery,
    DeliveryStatus,
    Event,
    Message,
    UTCDateTime,
)

PAGE_SIZE = 25
BUCKET_SECONDS = 600
COUNTED = (
    EventType.QUEUED, EventType.DELIVERED, EventType.BOUNCED, EventType.OPENED, EventType.CLICKED,
    EventType.UNSUBSCRIBED, EventType.COMPLAINED,
)  # fmt: skip
RUN_COUNTERS = ("queued", "skipped_inactive", "skipped_suppressed", "duplicates", "canceled")

_RUN_MESSAGES = select(CampaignRun.message_id).where(
    CampaignRun.campaign_id == bindparam("campaign_id"), CampaignRun.message_id.is_not(None)
)


def _of_campaign(*types: EventType) -> list[ColumnElement[bool]]:
    return [Event.message_id.in_(_RUN_MESSAGES), Event.type.in_(types)]


def _count(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _flag(condition: ColumnElement[bool]) -> Any:
    return func.max(case((condition, 1), else_=0))


_SOFT = func.coalesce(Event.data["bounce_type"].as_string(), "") == BounceType.SOFT.value
_BOUNCED = Event.type == EventType.BOUNCED

# One row per delivery (the `queued` events of a run that carry no delivery fold into one row
# per message: only their number is used).
_PER_DELIVERY = (
    select(
        _count(Event.type == EventType.QUEUED).label("queued"),
        _flag(Event.type == EventType.DELIVERED).label("delivered"),
        _flag(and_(_BOUNCED, ~_SOFT)).label("hard"),
        _flag(and_(_BOUNCED, _SOFT)).label("soft"),
        _count(Event.type == EventType.OPENED).label("opens"),
        _count(Event.type == EventType.CLICKED).label("clicks"),
        _flag(Event.type == EventType.UNSUBSCRIBED).label("resigned"),
        _flag(Event.type == EventType.COMPLAINED).label("complained"),
        func.min(case((Event.type == EventType.QUEUED, Event.created_at))).label("first_queued"),
        func.max(case((Event.type == EventType.DELIVERED, Event.created_at))).label(
            "last_delivered"
        ),
    )
    .where(*_of_campaign(*COUNTED))
    .group_by(Event.message_id, Event.delivery_id)
    .subquery()
)
_d = _PER_DELIVERY.c
_TOTALS = select(
    func.coalesce(func.sum(_d.queued), 0).label("subscribers"),
    func.coalesce(func.sum(case((and_(_d.delivered == 1, _d.hard == 0, _d.soft == 0), 1))), 0)
    .label("delivered"),
    func.coalesce(func.sum(_d.hard), 0).label("hard_bounce"),
    func.coalesce(func.sum(case((and_(_d.soft == 1, _d.hard == 0), 1))), 0).label("soft_bounce"),
    func.coalesce(func.sum(_d.opens), 0).label("opened"),
    func.coalesce(func.sum(_d.clicks), 0).label("clicked"),
    func.coalesce(func.sum(case((_d.opens > 0, 1))), 0).label("unique_opened"),
    func.coalesce(func.sum(case((_d.clicks > 0, 1))), 0).label("unique_clicked"),
    func.coalesce(func.sum(_d.resigned), 0).label("resigned"),
    func.coalesce(func.sum(_d.complained), 0).label("complaints"),
    func.min(_d.first_queued, type_=UTCDateTime()).label("first_queued_at"),
    func.max(_d.last_delivered, type_=UTCDateTime()).label("last_delivered_at"),
)  # fmt: skip
_TIMES = ("first_queued_at", "last_delivered_at")

_RUNS = select(
    func.count().label("runs"),
    *(func.coalesce(func.sum(getattr(CampaignRun, name)), 0).label(name) for name in RUN_COUNTERS),
    func.min(CampaignRun.started_at).label("first_run_at"),
    func.max(CampaignRun.started_at).label("last_run_at"),
).where(CampaignRun.campaign_id == bindparam("campaign_id"))


def emails_per_second(delivered: int, first: datetime | None, last: datetime | None) -> float:
    """Deliveries per second from the first recipient queued to the last delivery."""
    if not delivered or first is None or last is None:
        return 0.0
    seconds = (last - first).total_seconds()
    return round(delivered / seconds, 2) if seconds > 0 else float(delivered)


async def campaign_statistics(db: Database, campaign_id: int) -> dict[str, Any]:
    """Totals over every run of the campaign (see the module's description), the first
    queueing and last delivery times, deliveries per second, and the runs' own counters
    (`runs`, `queued`, `skipped_inactive`, `skipped_suppressed`, `duplicates`, `canceled`)."""
    params = {"campaign_id": campaign_id}
    totals = (await db.scan(_TOTALS, params))[0]._asdict()
    runs = (await db.scan(_RUNS, params))[0]._asdict()
    stats: dict[str, Any] = {
        key: value if key in _TIMES else int(value) for key, value in totals.items()
    }
    stats["emails_per_second"] = emails_per_second(
        stats["delivered"], stats["first_queued_at"], stats["last_delivered_at"]
    )
    for name in ("runs", *RUN_COUNTERS):
        stats[name] = int(runs[name])
    stats["first_run_at"], stats["last_run_at"] = runs["first_run_at"], runs["last_run_at"]
    return stats


_BUCKET = time_bucket(Event.created_at, BUCKET_SECONDS)
_OPENED, _CLICKED = Event.type == EventType.OPENED, Event.type == EventType.CLICKED
_TIME_DETAILS = (
    select(
        _BUCKET.label("time"),
        _count(_OPENED).label("opened"),
        func.count(func.distinct(case((_OPENED, Event.delivery_id)))).label("unique_opened"),
        _count(_CLICKED).label("clicked"),
        func.count(func.distinct(case((_CLICKED, Event.delivery_id)))).label("unique_clicked"),
    )
    .where(*_of_campaign(EventType.OPENED, EventType.CLICKED))
    .group_by(_BUCKET)
    .order_by(_BUCKET)
)


async def time_details(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Opens and clicks per ten minutes (`time`: the period's start, `YYYY-MM-DD HH:MM`, UTC),
    oldest first, periods without any left out; unique counts are deliveries within the
    period."""
    rows = await db.scan(_TIME_DETAILS, {"campaign_id": campaign_id})
    return [
        {
            "time": row.time,
            "opened": int(row.opened),
            "unique_opened": int(row.unique_opened),
            "clicked": int(row.clicked),
            "unique_clicked": int(row.unique_clicked),
        }
        for row in rows
    ]


_OWNED = select(Campaign.id, Campaign.deleted_at.is_not(None)).where(
    Campaign.hash == bindparam("hash"), Campaign.user_id == bindparam("user_id")
)


@dataclass(frozen=True)
class CampaignRef:
    id: int
    deleted: bool


async def owned_campaign(db: Database, user_id: int, campaign_hash: str) -> CampaignRef | None:
    """The user's campaign with this hash, deleted or not (None: none, or another's)."""
    row = await db.first(_OWNED, {"hash": campaign_hash, "user_id": user_id})
    return CampaignRef(int(row[0]), bool(row[1])) if row else None


async def reported_campaign(db: Database, user_id: int, campaign_hash: str) -> int | None:
    """The id of the user's campaign with this hash (not deleted), or None."""
    found = await owned_campaign(db, user_id, campaign_hash)
    return found.id if found is not None and not found.deleted else None


_QUEUED_BY_RUNS = (
    select(func.coalesce(func.sum(CampaignRun.queued), 0))
    .where(CampaignRun.campaign_id == Campaign.id)
    .correlate(Campaign)
    .scalar_subquery()
)
_SENT = (
    select(
        Campaign.name,
        func.coalesce(func.nullif(CampaignEmail.subject, ""), Campaign.name).label("topic"),
        _QUEUED_BY_RUNS.label("subscribers"),
        Campaign.hash.label("id_hash"),
        Campaign.sent_at.label("sent"),
    )
    .outerjoin(CampaignEmail, CampaignEmail.id == Campaign.email_id)
    .where(
        Campaign.user_id == bindparam("user_id"),
        Campaign.sent_at.is_not(None),
        Campaign.deleted_at.is_(None),
    )
    .order_by(Campaign.sent_at.desc(), Campaign.id.desc())
    .limit(PAGE_SIZE)
    .offset(bindparam("offset"))
)


async def campaigns_list(db: Database, user_id: int, page: int) -> list[dict[str, Any]]:
    """Page `page` (from 1) of the user's sent campaigns, 25 a page, the latest sent first:
    name, topic (the subject, else the name), subscribers (recipients its runs queued),
    id_hash, sent (when its latest run started)."""
    rows = await db.scan(_SENT, {"user_id": user_id, "offset": (page - 1) * PAGE_SIZE})
    return [{**row._asdict(), "subscribers": int(row.subscribers)} for row in rows]


# What the history calls the outcome of a campaign's mail to the subscriber: still on its way
# (queued, being retried, or held by a pause) is SENT; a bounce is hard or soft by its event.
HISTORY_STATES = {
    DeliveryStatus.QUEUED: "SENT",
    DeliveryStatus.DEFERRED: "SENT",
    DeliveryStatus.HELD: "SENT",
    DeliveryStatus.DELIVERED: "DELIVERED",
    DeliveryStatus.BOUNCED: "HARD_BOUNCE",
    DeliveryStatus.FAILED: "HARD_BOUNCE",
}


@dataclass(frozen=True)
class HistoryEntry:
    name: str  # the campaign's
    subject: str  # the run's message's (the campaign's name when it has none)
    sent_at: datetime  # when the run started
    state: str  # HISTORY_STATES, or SOFT_BOUNCE
    opens: int
    clicks: int


def _delivery_events(kind: EventType, *more: ColumnElement[bool]) -> Any:
    """How many `kind` events the delivery has (index ix_events_message_delivery)."""
    return (
        select(func.count())
        .where(
            Event.message_id == Delivery.message_id,
            Event.delivery_id == Delivery.id,
            Event.type == kind,
            *more,
        )
        .correlate(Delivery)
        .scalar_subquery()
    )


# From the account's campaigns to their runs' messages, and the address's delivery in each
# (the unique index on message and recipient): a handful of index probes per run.
_HISTORY = (
    select(
        Campaign.name,
        func.coalesce(func.nullif(Message.subject, ""), Campaign.name).label("subject"),
        CampaignRun.started_at,
        Delivery.status,
        _delivery_events(EventType.OPENED).label("opens"),
        _delivery_events(EventType.CLICKED).label("clicks"),
        _delivery_events(EventType.BOUNCED, ~_SOFT).label("hard"),
        _delivery_events(EventType.BOUNCED, _SOFT).label("soft"),
    )
    .join(CampaignRun, CampaignRun.campaign_id == Campaign.id)
    .join(Message, Message.id == CampaignRun.message_id)
    .join(
        Delivery,
        and_(
            Delivery.message_id == CampaignRun.message_id, Delivery.recipient == bindparam("email")
        ),
    )
    .where(Campaign.user_id == bindparam("user_id"), Delivery.status != DeliveryStatus.CANCELED)
    .order_by(CampaignRun.started_at.desc(), CampaignRun.id.desc())
    .limit(bindparam("limit"))
)


def _history_state(status: str, hard: int, soft: int) -> str:
    if DeliveryStatus(status) is DeliveryStatus.BOUNCED and soft and not hard:
        return "SOFT_BOUNCE"
    return HISTORY_STATES[DeliveryStatus(status)]


async def subscriber_history(
    db: Database, user_id: int, email: str, limit: int
) -> list[HistoryEntry]:
    """The account's campaigns sent to `email` (one entry per run that queued it; runs that
    were canceled before sending to it left out), newest first: the campaign's name, the
    subject, when the run started, the outcome, and the opens and clicks of that mail.
    Campaign recipients are stored as their subscribers' addresses, in lower case."""
    params = {"email": email.lower(), "user_id": user_id, "limit": limit}
    rows = await db.scan(_HISTORY, params)
    return [
        HistoryEntry(
            row.name,
            row.subject,
            row.started_at,
            _history_state(row.status, row.hard, row.soft),
            int(row.opens),
            int(row.clicks),
        )
        for row in rows
    ]
