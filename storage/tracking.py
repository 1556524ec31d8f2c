"""What recipients do with the mail they received: opens, clicks and unsubscribes, recorded as
events of the delivery a tracking token names; an unsubscribe also suppresses the address."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.event_log import record_events
from storage.event_names import EventType
from storage.event_payloads import EventRecord, VisitorData
from storage.models import Campaign, Delivery, Message, utcnow
from storage.suppressions import suppress

# The event types this module records (http_api/tracking.py names them from here).
OPENED = EventType.OPENED
CLICKED = EventType.CLICKED
UNSUBSCRIBED = EventType.UNSUBSCRIBED


@dataclass(frozen=True)
class TrackedDelivery:
    """One recipient of one message, and who sent it."""

    id: int
    message_id: uuid.UUID
    recipient: str
    user_id: int | None
    sender_domain_id: int | None
    resign_link: str | None = None  # a campaign's page for those who unsubscribed (003)


_DELIVERY = (
    select(
        Delivery.id,
        Delivery.message_id,
        Delivery.recipient,
        Message.user_id,
        Message.sender_domain_id,
        Campaign.resign_link,
    )
    .join(Message, Message.id == Delivery.message_id)
    .outerjoin(Campaign, Campaign.id == Message.campaign_id)
    .where(Delivery.id == bindparam("id"))
)


async def tracked_delivery(db: Database, delivery_id: int) -> TrackedDelivery | None:
    row = await db.first(_DELIVERY, {"id": delivery_id})
    return TrackedDelivery(*row) if row else None


def _event(kind: EventType, delivery: TrackedDelivery, data: VisitorData) -> EventRecord:
    return {
        "type": kind,
        "message_id": delivery.message_id,
        "delivery_id": delivery.id,
        "recipient": delivery.recipient,
        "user_id": delivery.user_id,
        "sender_domain_id": delivery.sender_domain_id,
        "created_at": utcnow(),
        "data": data,
    }


async def record_engagement(
    db: Database, delivery: TrackedDelivery, kind: EventType, data: VisitorData
) -> None:
    """An `opened` or `clicked` event; every one is kept (statistics count unique and total)."""
    await db.write(lambda conn: record_events(conn, [_event(kind, delivery, data)]))


def _unsubscribe(conn: Connection, delivery: TrackedDelivery, data: VisitorData) -> bool:
    if delivery.user_id is None and delivery.sender_domain_id is None:
        return False  # the sender is gone: nothing to unsubscribe from (never a global entry)
    added = suppress(
        conn,
        delivery.recipient,
        UNSUBSCRIBED.value,  # the suppression's reason
        str(data.get("source") or "unsubscribe"),
        delivery.user_id,
        delivery.sender_domain_id,
    )
    if added:
        record_events(conn, [_event(UNSUBSCRIBED, delivery, data)])
    return added


async def unsubscribe(db: Database, delivery: TrackedDelivery, data: VisitorData) -> bool:
    """Suppress the recipient for the message's sender domain (for its account when the
    domain is gone) and record `unsubscribed`, in one transaction; False (and no second event)
    when the address was unsubscribed already."""
    return await db.write(lambda conn: _unsubscribe(conn, delivery, data))
