"""Asynchronous feedback about sent mail: bounces and complaints that come back later, matched
to the message and recipient they are about, recorded as events, and turned into suppressions.

A hard bounce about the address suppresses it for the sender's account at once; soft bounces
do when the address's last `soft_limit` messages from that account all bounced; a complaint
always does. A soft bounce that suppresses moves the address's subscribers on the account's
lists to 003's state 5 (storage/subscriber_states.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.event_log import record_events
from storage.event_names import EventType
from storage.event_payloads import ComplaintData, DsnBounceData, EventRecord, bounce_fields
from storage.models import Delivery, DeliveryStatus, Event, Message, SubscriberState, utcnow
from storage.subscriber_states import mark
from storage.suppressions import DOMAIN_REASONS, normalize_address, seen_dead_long_enough, suppress


@dataclass(frozen=True)
class AsyncBounce:
    address: str
    hard: bool
    category: str
    enhanced_code: str | None
    diagnostic: str
    delayed: bool  # a "still trying" notice, not a failure
    suppress: bool  # the classification says the address itself is bad
    reason: str = "undefined"  # Sisimai's vocabulary (mta/feedback/reasons.py)


@dataclass(frozen=True)
class Recorded:
    """What was recorded: (event type, recipient) pairs, and the addresses suppressed."""

    events: list[tuple[EventType, str]]
    suppressed: list[str]


def _about(conn: Connection, message_id: uuid.UUID) -> tuple[Any, dict[str, int]] | None:
    """The message a report is about (owner ids) and its recipients' delivery ids."""
    message = conn.execute(
        select(Message.id, Message.user_id, Message.sender_domain_id).where(
            Message.id == message_id
        )
    ).first()
    if message is None:
        return None
    rows = conn.execute(
        select(Delivery.id, Delivery.recipient).where(Delivery.message_id == message_id)
    ).all()
    return message, {normalize_address(row.recipient): row.id for row in rows}


def _match(reported: str, deliveries: dict[str, int], delivery_id: int | None) -> str | None:
    """The message's recipient a report is about: the one its VERP address named, else the one
    the report names, else a lone recipient (the report names a forward or an alias)."""
    by_id = {number: address for address, number in deliveries.items()}
    if delivery_id in by_id:
        return by_id[delivery_id]
    address = normalize_address(reported)
    if address in deliveries:
        return address
    return next(iter(deliveries)) if len(deliveries) == 1 else None


def _event(
    kind: EventType,
    message: Any,
    delivery_id: int | None,
    recipient: str,
    data: DsnBounceData | ComplaintData,
) -> EventRecord:
    return {
        "type": kind,
        "message_id": message.id,
        "delivery_id": delivery_id,
        "recipient": recipient,
        "user_id": message.user_id,
        "sender_domain_id": message.sender_domain_id,
        "created_at": utcnow(),
        "data": data,
    }


def _soft_bounces_in_a_row(conn: Connection, user_id: int, address: str, limit: int) -> bool:
    """Did each of the last `limit` messages from this account to `address` bounce?"""
    recent = (
        select(Delivery.message_id)
        .join(Message, Message.id == Delivery.message_id)
        .where(Message.user_id == user_id, func.lower(Delivery.recipient) == address)
        .order_by(Delivery.id.desc())
        .limit(limit)
    ).subquery()
    sent = conn.execute(select(func.count()).select_from(recent)).scalar_one()
    bounced = conn.execute(
        select(func.count(func.distinct(Event.message_id))).where(
            Event.type == EventType.BOUNCED,
            Event.user_id == user_id,
            func.lower(Event.recipient) == address,
            Event.message_id.in_(select(recent.c.message_id)),
        )
    ).scalar_one()
    return sent >= limit and bounced >= limit


def _record_bounces(
    conn: Connection,
    message_id: uuid.UUID,
    delivery_id: int | None,
    bounces: Sequence[AsyncBounce],
    soft_limit: int,
) -> Recorded:
    recorded = Recorded([], [])
    about = _about(conn, message_id)
    if about is None:
        return recorded
    message, deliveries = about
    for bounce in bounces:
        recipient = _match(bounce.address, deliveries, delivery_id)
        if recipient is None:
            continue
        bad_address = bounce.hard and bounce.suppress and not bounce.delayed
        if bad_address and bounce.reason in DOMAIN_REASONS:  # seen twice, an hour apart
            bad_address = seen_dead_long_enough(conn, recipient, utcnow())
        data = DsnBounceData(
            reply=bounce.diagnostic,
            enhanced_code=bounce.enhanced_code,
            category=bounce.category,
            **bounce_fields(bounce.hard, address_suppressed=bad_address, reason=bounce.reason),
            source="dsn",
        )
        kind = EventType.DEFERRED if bounce.delayed else EventType.BOUNCED
        record_events(conn, [_event(kind, message, deliveries[recipient], recipient, data)])
        recorded.events.append((kind, recipient))
        if bounce.delayed:
            continue
        conn.execute(
            update(Delivery)
            .where(Delivery.id == deliveries[recipient])
            .values(status=DeliveryStatus.BOUNCED, last_response=bounce.diagnostic[:2000])
        )
        if message.user_id is None:
            continue
        if bad_address or (
            not bounce.hard and _soft_bounces_in_a_row(conn, message.user_id, recipient, soft_limit)
        ):
            reason = bounce.category if bounce.hard else "soft bounces in a row"
            suppress(conn, recipient, reason, "dsn", message.user_id)
            if not bounce.hard:  # hard bounces moved their subscribers when recorded
                mark(conn, message.user_id, [recipient], SubscriberState.SOFT_BOUNCE)
            recorded.suppressed.append(recipient)
    return recorded


async def record_bounces(
    db: Database,
    message_id: uuid.UUID,
    bounces: Sequence[AsyncBounce],
    soft_limit: int,
    delivery_id: int | None = None,
) -> Recorded:
    """Record an asynchronous bounce report about one of our messages (and, when its VERP
    address named one, about that delivery)."""
    return await db.write(
        lambda conn: _record_bounces(conn, message_id, delivery_id, bounces, soft_limit)
    )


def _record_complaint(
    conn: Connection,
    message_id: uuid.UUID,
    delivery_id: int | None,
    complainant: str | None,
    feedback_type: str | None,
    user_agent: str | None,
) -> Recorded:
    recorded = Recorded([], [])
    about = _about(conn, message_id)
    if about is None:
        return recorded
    message, deliveries = about
    recipient = _match(complainant or "", deliveries, delivery_id)
    if recipient is None:
        return recorded
    data = ComplaintData(feedback_type=feedback_type, user_agent=user_agent, source="fbl")
    complaint = _event(EventType.COMPLAINED, message, deliveries[recipient], recipient, data)
    record_events(conn, [complaint])
    recorded.events.append((EventType.COMPLAINED, recipient))
    if message.user_id is not None:
        suppress(conn, recipient, "complaint", "fbl", message.user_id)
        recorded.suppressed.append(recipient)
    return recorded


async def record_complaint(
    db: Database,
    message_id: uuid.UUID,
    complainant: str | None,
    feedback_type: str | None,
    user_agent: str | None,
    delivery_id: int | None = None,
) -> Recorded:
    """Record a complaint (ARF, JMRP) about one of our messages; the address is suppressed."""
    return await db.write(
        lambda conn: _record_complaint(
            conn, message_id, delivery_id, complainant, feedback_type, user_agent
        )
    )
