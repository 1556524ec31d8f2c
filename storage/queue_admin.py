"""Operator views and actions on the queue: counts, retry now, removal, clearing a sender
domain's pending mail, and an explanation of why a message or recipient is waiting.

Removal never deletes history: pending recipients are marked `failed`, with a `failed` event
saying who removed them and why, so the events API and statistics stay whole.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.engine import Connection

from storage.engine import Database, changed_rows
from storage.event_log import record_events
from storage.event_names import EventType
from storage.event_payloads import OperatorFailedData
from storage.models import Delivery, DeliveryStatus, Event, Message, iso_time, utcnow
from storage.outbound import PENDING


async def queue_summary(db: Database) -> list[dict[str, Any]]:
    """Recipients per destination domain and status (delivered and bounced included)."""
    query = (
        select(Delivery.recipient_domain, Delivery.status, func.count())
        .group_by(Delivery.recipient_domain, Delivery.status)
        .order_by(Delivery.recipient_domain, Delivery.status)
    )
    return [
        {"Domain": domain, "Status": str(status), "Count": count}
        for domain, status, count in await db.scan(query)
    ]


def _selection(
    message_id: uuid.UUID | None, recipient_domain: str | None, recipient: str | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Delivery.status.in_(PENDING)]
    if message_id is not None:
        conditions.append(Delivery.message_id == message_id)
    if recipient_domain is not None:
        conditions.append(Delivery.recipient_domain == recipient_domain.lower())
    if recipient is not None:
        conditions.append(func.lower(Delivery.recipient) == recipient.strip().lower())
    return conditions


async def retry_now(
    db: Database,
    message_id: uuid.UUID | None = None,
    recipient_domain: str | None = None,
    recipient: str | None = None,
) -> int:
    """Make the selected pending recipients due now (as `postqueue -f`); returns how many."""
    conditions = _selection(message_id, recipient_domain, recipient)
    statement = update(Delivery).where(*conditions).values(next_attempt_at=utcnow())
    return await changed_rows(db, statement)


async def fail_pending(
    db: Database,
    reason: str,
    message_id: uuid.UUID | None = None,
    recipient_domain: str | None = None,
    recipient: str | None = None,
) -> int:
    """Mark the selected pending recipients `failed` with a `failed` event; returns how many."""
    conditions = _selection(message_id, recipient_domain, recipient)
    return await db.write(lambda conn: _fail(conn, reason, conditions))


def fail_domain_mail(conn: Connection, sender_domain_id: int, reason: str) -> int:
    """Mark a sender domain's pending recipients `failed`, in the caller's transaction (one
    that deletes the domain fails its mail with it); returns how many."""
    owned = select(Message.id).where(Message.sender_domain_id == sender_domain_id)
    conditions = [*_selection(None, None, None), Delivery.message_id.in_(owned)]
    return _fail(conn, reason, conditions)


def _fail(conn: Connection, reason: str, conditions: list[ColumnElement[bool]]) -> int:
    """Rows leased by a worker right now are taken too: the worker's outcome for them is then
    discarded (outcomes are only written for rows still leased to their worker)."""
    rows = conn.execute(
        update(Delivery)
        .where(*conditions)
        .values(
            status=DeliveryStatus.FAILED,
            last_response=reason,
            locked_by=None,
            locked_until=None,
        )
        .returning(Delivery.id, Delivery.message_id, Delivery.recipient)
    ).all()
    if not rows:
        return 0
    now = utcnow()
    owners = _owners(conn, {row.message_id for row in rows})
    failed = [
        {
            "type": EventType.FAILED,
            "message_id": row.message_id,
            "delivery_id": row.id,
            "recipient": row.recipient,
            **owners[row.message_id],
            "created_at": now,
            "data": OperatorFailedData(reply=reason, category="other"),
        }
        for row in rows
    ]
    record_events(conn, failed)
    return len(rows)


def _owners(conn: Connection, ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, int | None]]:
    """The user and sender domain of each message (the events carry them)."""
    rows = conn.execute(
        select(Message.id, Message.user_id, Message.sender_domain_id).where(Message.id.in_(ids))
    )
    return {
        row.id: {"user_id": row.user_id, "sender_domain_id": row.sender_domain_id} for row in rows
    }


async def clear_domain_queue(db: Database, sender_domain_id: int) -> int:
    """What `emailgateway.cleardomainqueue` does: the domain's pending mail will not be sent."""
    reason = "queue cleared for the sender domain"
    return await db.write(lambda conn: fail_domain_mail(conn, sender_domain_id, reason))


async def explain(
    db: Database, ident: str, limits: dict[str, Any], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Why each recipient of a message (by id) or one delivery (by number) is where it is."""
    now = now or utcnow()
    query = select(Delivery.__table__, Message.send_at, Message.created_at.label("queued_at")).join(
        Message, Message.id == Delivery.message_id
    )
    if ident.isdigit():
        query = query.where(Delivery.id == int(ident))
    else:
        try:
            query = query.where(Delivery.message_id == uuid.UUID(ident))
        except ValueError:
            return []
    rows = await db.scan(query.order_by(Delivery.id))
    return [_explain_row(row, limits, now) for row in rows]


def _explain_row(row: Any, limits: dict[str, Any], now: datetime) -> dict[str, Any]:
    view = delivery_view(row)
    status = row.status
    if status not in PENDING:
        view["Why"] = {
            DeliveryStatus.DELIVERED: "delivered; nothing is waiting",
            DeliveryStatus.BOUNCED: "bounced; it will not be tried again",
            DeliveryStatus.FAILED: "failed (removed from the queue); it will not be tried again",
        }.get(status, str(status))
        return view
    wait = (row.next_attempt_at - now).total_seconds()
    if row.locked_until is not None and row.locked_until > now:
        view["Why"] = f"being delivered now by worker {row.locked_by}"
    elif row.send_at is not None and row.send_at > now and row.attempts == 0:
        view["Why"] = f"scheduled: not to be sent before {row.send_at.isoformat()}"
    elif wait > 0:
        view["Why"] = (
            f"deferred after {row.attempts} attempt(s); next attempt in {wait:.0f}s; "
            f"last reply from {row.last_remote_host or 'no host'}: {row.last_response}"
        )
    else:
        view["Why"] = (
            "due now: waiting for a delivery worker"
            f" (limits for {row.recipient_domain}: {_limits_text(limits)})"
        )
    expires = row.queued_at.timestamp() + float(limits.get("max_queue_lifetime", 0))
    view["ExpiresAt"] = datetime.fromtimestamp(expires, tz=now.tzinfo).isoformat()
    return view


def _limits_text(limits: dict[str, Any]) -> str:
    rate = limits.get("destination_rate_limit") or 0
    return f"{limits.get('destination_concurrency')} sessions at once, " + (
        f"{rate} messages per minute" if rate else "no rate limit"
    )


def delivery_view(row: Any) -> dict[str, Any]:
    """One recipient of a message as the operator's commands show it (a row of `deliveries`)."""
    pending = row.status in PENDING
    return {
        "DeliveryID": row.id,
        "MessageID": str(row.message_id),
        "Recipient": row.recipient,
        "Status": str(row.status),
        "Attempts": row.attempts,
        "NextAttempt": iso_time(row.next_attempt_at) if pending else None,
        "LastAttempt": iso_time(row.last_attempt_at),
        "LastReply": row.last_response,
        "LastHost": row.last_remote_host,
        "QueuedAt": iso_time(row.created_at),
        "DeliveredAt": iso_time(row.delivered_at),
    }


@dataclass(frozen=True)
class DeliveryFilter:
    """Which recipients `queue list` shows; every field given must match."""

    recipient_domain: str | None = None
    sender_domain_id: int | None = None
    status: DeliveryStatus | None = None
    limit: int = 100

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.recipient_domain is not None:
            conditions.append(Delivery.recipient_domain == self.recipient_domain.strip().lower())
        if self.sender_domain_id is not None:
            conditions.append(Message.sender_domain_id == self.sender_domain_id)
        if self.status is not None:
            conditions.append(Delivery.status == self.status)
        return conditions


async def list_deliveries(db: Database, selection: DeliveryFilter) -> list[dict[str, Any]]:
    """The selected recipients, newest first, with their message's sender domain."""
    query = (
        select(Delivery.__table__, Message.sender_domain_id)
        .join(Message, Message.id == Delivery.message_id)
        .where(*selection.conditions())
        .order_by(Delivery.id.desc())
        .limit(selection.limit)
    )
    rows = await db.scan(query)
    return [{**delivery_view(row), "SenderDomainID": row.sender_domain_id} for row in rows]


_MESSAGE_COLUMNS = (  # everything but the stored message itself
    Message.id,
    Message.user_id,
    Message.sender_domain_id,
    Message.mail_from,
    Message.header_from,
    Message.subject,
    Message.message_id_header,
    Message.size,
    Message.recipient_count,
    Message.tags,
    Message.source,
    Message.client_ip,
    Message.send_at,
    Message.campaign_id,
    Message.created_at,
)


async def show_message(
    db: Database, message_id: uuid.UUID, limit: int = 100
) -> dict[str, Any] | None:
    """A message's envelope and headers, its first `limit` recipients and its first `limit`
    events (with how many there are of each: a campaign run's message has thousands)."""
    this = Delivery.message_id == message_id
    events = Event.message_id == message_id
    message = await db.first(select(*_MESSAGE_COLUMNS).where(Message.id == message_id))
    if message is None:
        return None
    shown_events = (
        select(Event.id, Event.type, Event.delivery_id, Event.recipient, Event.created_at,
               Event.data)
        .where(events).order_by(Event.id).limit(limit)
    )  # fmt: skip

    def story(conn: Connection) -> dict[str, Any]:
        deliveries = conn.execute(
            select(Delivery.__table__).where(this).order_by(Delivery.id).limit(limit)
        )
        return {
            "DeliveryCount": conn.scalar(select(func.count()).where(this)),
            "Deliveries": [delivery_view(row) for row in deliveries],
            "EventCount": conn.scalar(select(func.count()).where(events)),
            "Events": [_event_view(row) for row in conn.execute(shown_events)],
        }

    return {**_message_view(message), **await db.read(story)}


def _message_view(row: Any) -> dict[str, Any]:
    return {
        "MessageID": str(row.id),
        "UserID": row.user_id,
        "SenderDomainID": row.sender_domain_id,
        "MailFrom": row.mail_from,
        "From": row.header_from,
        "Subject": row.subject,
        "MessageIDHeader": row.message_id_header,
        "Size": row.size,
        "RecipientCount": row.recipient_count,
        "Tags": row.tags,
        "Source": row.source,
        "ClientIP": row.client_ip,
        "SendAt": iso_time(row.send_at),
        "CampaignID": row.campaign_id,
        "QueuedAt": iso_time(row.created_at),
    }


def _event_view(row: Any) -> dict[str, Any]:
    return {
        "EventID": row.id,
        "Type": row.type,
        "DeliveryID": row.delivery_id,
        "Recipient": row.recipient,
        "CreatedAt": iso_time(row.created_at),
        "Data": row.data or {},
    }
