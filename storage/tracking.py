"""What recipients do with the mail they received: opens, clicks and unsubscribes, recorded as
events of the delivery a tracking token names; an unsubscribe also suppresses the address."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.event_log import record_events
from storage.models import Campaign, Delivery, Message, utcnow
from storage.suppressions import suppress

OPENED = "opened"
CLICKED = "clicked"
UNSUBSCRIBED = "unsubscribed"


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


def _event(kind: str, delivery: TrackedDelivery, data: dict[str, Any]) -> dict[str, Any]:
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
    db: Database, delivery: TrackedDelivery, kind: str, data: dict[str, Any]
) -> None:
    """An `opened` or `clicked` event; every one is kept (statistics count unique and total)."""
    await db.write(lambda conn: record_events(conn, [_event(kind, delivery, data)]))


def _unsubscribe(conn: Connection, delivery: TrackedDelivery, data: dict[str, Any]) -> bool:
    if delivery.user_id is None and delivery.sender_domain_id is None:
        return False  # the sender is gone: nothing to unsubscribe from (never a global entry)
    added = suppress(
        conn,
        delivery.recipient,
        UNSUBSCRIBED,
        str(data.get("source") or "unsubscribe"),
        delivery.user_id,
        delivery.sender_domain_id,
    )
    if added:
        record_events(conn, [_event(UNSUBSCRIBED, delivery, data)])
    return added


async def unsubscribe(db: Database, delivery: TrackedDelivery, data: dict[str, Any]) -> bool:
    """Suppress the recipient for the message's sender domain (for its account when the
    domain is gone) and record `unsubscribed`, in one transaction; False (and no second event)
    when the address was unsubscribed already."""
    return await db.write(lambda conn: _unsubscribe(conn, delivery, data))
