"""The webhook outbox's work side: claiming due calls with a lease, loading what a call needs,
recording each attempt, and the operator's listing and replay.

Rows are written by `storage.event_log.record_events` with the events they announce. Claiming
works as the delivery queue's (storage/leases.py): one UPDATE of the rows a sub-select takes
`FOR UPDATE SKIP LOCKED` on PostgreSQL, atomic in SQLite's single writer; a lease that runs out
(a crashed dispatcher) makes the rows due again. A claim can leave out webhooks whose calls the
dispatcher has enough of already, so that one slow receiver's backlog does not fill its hands.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select, update
from sqlalchemy.engine import Connection

from storage.engine import AnyRow, Database, changed_rows
from storage.event_names import EventType
from storage.leases import claim_statement, lease_rows
from storage.models import (
    Event,
    Message,
    OutboxStatus,
    SenderDomain,
    Webhook,
    WebhookCall,
    iso_time,
    utcnow,
)

MAX_RESPONSE = 500  # characters of an answer kept (the column's size)


@dataclass(frozen=True)
class Claimed:
    id: int
    webhook_id: int


_CLAIM = claim_statement(
    WebhookCall,
    WebhookCall.status == OutboxStatus.PENDING,
    (WebhookCall.id, WebhookCall.webhook_id),
    WebhookCall.webhook_id.not_in(bindparam("busy", expanding=True)),
)


async def claim_due(
    db: Database,
    worker: str,
    limit: int,
    lease: timedelta,
    busy: Sequence[int] = (),
    now: datetime | None = None,
) -> list[Claimed]:
    """Lease up to `limit` due calls to `worker`, oldest due first, none of the `busy` webhooks."""
    rows = await lease_rows(db, _CLAIM, worker, limit, lease, now, busy=list(busy))
    return [Claimed(*row) for row in rows]


@dataclass(frozen=True)
class Call:
    """What one webhook call needs: where, with which key, and the event it announces."""

    id: int
    webhook_id: int
    attempts: int  # made before this one
    url: str
    enabled: bool
    signing_key: str = field(repr=False)
    event_id: int
    event_type: EventType
    event_time: datetime
    message_id: uuid.UUID | None
    recipient: str | None
    data: dict[str, Any]
    header_from: str | None
    subject: str | None
    tags: list[str]
    campaign_id: int | None = None  # the campaign whose run sent the message


_CALLS = (
    select(
        WebhookCall.id,
        WebhookCall.webhook_id,
        WebhookCall.attempts,
        Webhook.url,
        Webhook.disabled_at.is_(None).label("enabled"),
        SenderDomain.webhook_signing_key.label("signing_key"),
        Event.id.label("event_id"),
        Event.type.label("event_type"),
        Event.created_at.label("event_time"),
        Event.message_id,
        Event.recipient,
        Event.data,
        Message.header_from,
        Message.subject,
        Message.tags,
        Message.campaign_id,
    )
    .join(Webhook, Webhook.id == WebhookCall.webhook_id)
    .join(SenderDomain, SenderDomain.id == Webhook.sender_domain_id)
    .join(Event, Event.id == WebhookCall.event_id)
    .outerjoin(Message, Message.id == Event.message_id)
    .where(WebhookCall.id.in_(bindparam("ids", expanding=True)))
)


async def load_calls(db: Database, ids: Sequence[int]) -> list[Call]:
    """The claimed calls that still exist (a deleted webhook takes its calls with it)."""
    rows = await db.rows(_CALLS, {"ids": list(ids)})
    return [_call(row) for row in rows]


def _call(row: AnyRow) -> Call:
    # The select's columns are named after Call's fields; a call's event may have no data or tags.
    return Call(**{**row._mapping, "data": row.data or {}, "tags": row.tags or []})


@dataclass(frozen=True)
class Attempt:
    """The result of calling one webhook once."""

    call: Call
    status: OutboxStatus  # DELIVERED; PENDING to try again at next_attempt_at; DEAD
    http_status: int | None  # None when no answer came (refused target, timeout, error)
    response: str
    next_attempt_at: datetime | None = None
    gone: bool = False  # the endpoint answered 410: disable the webhook, its pending calls die


_RESULT = (
    update(WebhookCall)
    .where(WebhookCall.id == bindparam("b_id"), WebhookCall.locked_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next"),
        last_attempt_at=bindparam("b_now"),
        last_status=bindparam("b_http"),
        last_response=bindparam("b_response"),
        delivered_at=bindparam("b_delivered"),
        locked_by=None,
        locked_until=None,
    )
    .execution_options(synchronize_session=False)
)


def _apply(conn: Connection, worker: str, attempts: Sequence[Attempt]) -> None:
    now = utcnow()
    conn.execute(
        _RESULT,
        [
            {
                "b_id": attempt.call.id,
                "b_worker": worker,
                "b_status": attempt.status,
                "b_attempts": attempt.call.attempts + 1,
                "b_next": attempt.next_attempt_at or now,
                "b_now": now,
                "b_http": attempt.http_status,
                "b_response": attempt.response[:MAX_RESPONSE],
                "b_delivered": now if attempt.status is OutboxStatus.DELIVERED else None,
            }
            for attempt in attempts
        ],
    )
    gone = sorted({attempt.call.webhook_id for attempt in attempts if attempt.gone})
    if gone:
        _disable(conn, gone, now)


def _disable(conn: Connection, webhook_ids: Sequence[int], now: datetime) -> None:
    """Disable the webhooks (their endpoints answered 410 Gone); their pending calls die."""
    conn.execute(
        update(Webhook)
        .where(Webhook.id.in_(webhook_ids), Webhook.disabled_at.is_(None))
        .values(disabled_at=now)
    )
    conn.execute(
        update(WebhookCall)
        .where(WebhookCall.webhook_id.in_(webhook_ids), WebhookCall.status == OutboxStatus.PENDING)
        .values(
            status=OutboxStatus.DEAD,
            last_response="not called: the endpoint answered 410 Gone, the webhook is disabled",
        )
    )


async def record_attempts(db: Database, worker: str, attempts: Sequence[Attempt]) -> None:
    """Store each attempt's result (and disable the webhooks that answered 410) at once."""
    if attempts:
        await db.write(lambda conn: _apply(conn, worker, attempts))


async def release(db: Database, worker: str, ids: Sequence[int]) -> None:
    """Give claimed calls back untouched (shutdown before they were made)."""
    if ids:
        statement = (
            update(WebhookCall)
            .where(WebhookCall.id.in_(list(ids)), WebhookCall.locked_by == worker)
            .values(locked_by=None, locked_until=None)
        )
        await db.write(lambda conn: conn.execute(statement))


# -- the operator's view -------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which calls an operator means; every field given must match."""

    outbox_id: int | None = None
    webhook_id: int | None = None
    event_id: int | None = None
    dead: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.outbox_id is not None:
            conditions.append(WebhookCall.id == self.outbox_id)
        if self.webhook_id is not None:
            conditions.append(WebhookCall.webhook_id == self.webhook_id)
        if self.event_id is not None:
            conditions.append(WebhookCall.event_id == self.event_id)
        if self.dead:
            conditions.append(WebhookCall.status == OutboxStatus.DEAD)
        return conditions


async def list_calls(db: Database, selection: Selection, limit: int = 1000) -> list[dict[str, Any]]:
    """The selected calls, newest first: what was tried, how often, and the last answer."""
    query = (
        select(
            WebhookCall.id,
            WebhookCall.webhook_id,
            Webhook.url,
            WebhookCall.event_id,
            Event.type,
            WebhookCall.status,
            WebhookCall.attempts,
            WebhookCall.next_attempt_at,
            WebhookCall.last_attempt_at,
            WebhookCall.last_status,
            WebhookCall.last_response,
            WebhookCall.created_at,
            WebhookCall.delivered_at,
        )
        .join(Webhook, Webhook.id == WebhookCall.webhook_id)
        .join(Event, Event.id == WebhookCall.event_id)
        .where(*selection.conditions())
        .order_by(WebhookCall.id.desc())
        .limit(limit)
    )
    return [_call_view(row) for row in await db.scan(query)]


def _call_view(row: Any) -> dict[str, Any]:
    pending = row.status is OutboxStatus.PENDING
    return {
        "OutboxID": row.id,
        "WebhookID": row.webhook_id,
        "URL": row.url,
        "EventID": row.event_id,
        "Event": row.type,
        "Status": str(row.status),
        "Attempts": row.attempts,
        "NextAttemptAt": iso_time(row.next_attempt_at) if pending else None,
        "LastAttemptAt": iso_time(row.last_attempt_at),
        "LastHTTPStatus": row.last_status,
        "LastResponse": row.last_response,
        "CreatedAt": iso_time(row.created_at),
        "DeliveredAt": iso_time(row.delivered_at),
    }


async def unknown_ids(db: Database, selection: Selection) -> list[str]:
    """The ids in `selection` that name nothing: a call, an event with calls, or a webhook
    that does not exist (an operator's typo, which must not read as "nothing to do")."""
    checks = [
        (selection.outbox_id, WebhookCall.id, "no webhook call (OutboxID) {}"),
        (selection.event_id, WebhookCall.event_id, "no webhook calls for event {}"),
        (selection.webhook_id, Webhook.id, "no webhook {}"),
    ]
    unknown = []
    for value, column, text in checks:
        if value is None:
            continue
        if await db.scalar(select(column).where(column == value).limit(1)) is None:
            unknown.append(text.format(value))
    return unknown


async def replay(db: Database, selection: Selection) -> int:
    """Make the selected calls pending and due now, with a fresh retry schedule; returns how
    many. Calls of a disabled webhook die again when they are tried: add the webhook anew
    (addwebhook enables it) to have them delivered."""
    now = utcnow()
    statement = (
        update(WebhookCall)
        .where(*selection.conditions())
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, delivered_at=None)
        .execution_options(synchronize_session=False)
    )
    return await changed_rows(db, statement)
