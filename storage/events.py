"""Reading the event log for the APIs: one sender domain's events, newest first, filtered by
time, type and a search over recipient and subject, with the message headers they show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from storage.engine import Database
from storage.event_names import EventType, stored_type
from storage.models import Event, Message, MessageTag


@dataclass(frozen=True)
class EventRow:
    type: EventType
    created_at: datetime
    recipient: str | None
    message_id: str | None
    header_from: str | None
    subject: str | None
    data: dict[str, Any]
    id: int
    campaign_id: int | None  # the campaign of the event's message


@dataclass(frozen=True)
class EventQuery:
    domain_id: int
    start: int = 0
    count: int = 50
    since: datetime | None = None
    until: datetime | None = None
    types: Sequence[str] = ()  # stored names (EventType values); others match nothing
    search: str | None = None
    message_id: object | None = None


def _conditions(query: EventQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Event.sender_domain_id == query.domain_id]
    if query.since is not None:
        conditions.append(Event.created_at >= query.since)
    if query.until is not None:
        conditions.append(Event.created_at < query.until)
    if query.types:  # a name that is no event type matches nothing
        known = [kind for name in query.types if (kind := stored_type(name)) is not None]
        conditions.append(Event.type.in_(known))
    if query.message_id is not None:
        conditions.append(Event.message_id == query.message_id)
    if query.search:
        pattern = f"%{query.search.lower()}%"
        conditions.append(
            or_(
                func.lower(Event.recipient).like(pattern), func.lower(Message.subject).like(pattern)
            )
        )
    return conditions


async def list_events(db: Database, query: EventQuery) -> tuple[int, list[EventRow]]:
    """(how many match, the page asked for)."""
    conditions = _conditions(query)
    joined = select(Event).outerjoin(Message, Message.id == Event.message_id)
    total_query = select(func.count()).select_from(
        joined.where(*conditions).with_only_columns(Event.id).subquery()
    )
    page = (
        select(
            Event.type,
            Event.created_at,
            Event.recipient,
            Event.message_id,
            Message.header_from,
            Message.subject,
            Event.data,
            Event.id,
            Message.campaign_id,
        )
        .outerjoin(Message, Message.id == Event.message_id)
        .where(*conditions)
        .order_by(Event.created_at.desc(), Event.id.desc())
        .offset(query.start)
        .limit(query.count)
    )
    total, rows = await db.read(
        lambda conn: (int(conn.scalar(total_query) or 0), conn.execute(page).all())
    )
    return total, [
        EventRow(
            **{
                **row._mapping,
                "message_id": str(row.message_id) if row.message_id else None,
                "data": row.data or {},
            }
        )
        for row in rows
    ]


async def count_by_type(
    db: Database, domain_id: int, since: datetime, until: datetime, unique: bool = False
) -> dict[EventType, int]:
    """How many events of each type a sender domain had in [since, until); with `unique`, how
    many recipients of a message (deliveries) had each: unique opens and clicks (events with
    no delivery, such as `queued`, count 0)."""
    counted = func.count(func.distinct(Event.delivery_id)) if unique else func.count()
    query = (
        select(Event.type, counted)
        .where(
            Event.sender_domain_id == domain_id,
            Event.created_at >= since,
            Event.created_at < until,
        )
        .group_by(Event.type)
    )
    return {kind: int(count) for kind, count in await db.scan(query)}


async def count_by_tag(
    db: Database,
    domain_id: int,
    since: datetime,
    until: datetime,
    types: Sequence[EventType],
) -> dict[str, dict[EventType, int]]:
    """tag -> event type -> count, for the domain's tagged messages in [since, until)."""
    query = (
        select(MessageTag.tag, Event.type, func.count())
        .join(MessageTag, MessageTag.message_id == Event.message_id)
        .where(
            Event.sender_domain_id == domain_id,
            Event.created_at >= since,
            Event.created_at < until,
            Event.type.in_(list(types)),
        )
        .group_by(MessageTag.tag, Event.type)
    )
    counts: dict[str, dict[EventType, int]] = {}
    for tag, kind, count in await db.scan(query):
        counts.setdefault(tag, {})[kind] = int(count)
    return counts
