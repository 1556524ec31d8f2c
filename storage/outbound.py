"""The queue's read side for delivery: claiming due recipients with a lease, loading what a
session needs to send them, and recording each outcome with its event.

Claiming is one statement (storage/leases.py): an UPDATE of the rows chosen by a sub-select
that takes them `FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers on several nodes never claim
the same row; on SQLite the statement runs in the single writer, which makes it atomic. A claim
is a lease: rows whose lease has run out (a crashed worker) are due again.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Boolean, and_, bindparam, case, func, literal_column, select, update
from sqlalchemy.engine import Connection

from storage.campaigns.content import merge_values
from storage.engine import Database
from storage.event_log import record_events
from storage.event_names import EventType
from storage.event_payloads import AttemptData, BounceFields, EventRecord
from storage.leases import claim_statement, lease_rows
from storage.models import (
    Delivery,
    DeliveryStatus,
    Message,
    SenderDomain,
    Subscriber,
    UTCDateTime,
    utcnow,
)
from storage.suppressions import DOMAIN_REASONS, seen_dead_long_enough, suppress

PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


@dataclass(frozen=True)
class Claimed:
    """One claimed recipient."""

    id: int
    message_id: uuid.UUID
    recipient: str
    recipient_domain: str
    attempts: int
    created_at: datetime
    subscriber_id: int | None = None  # a campaign's recipient: whose merge values it gets


@dataclass(frozen=True)
class OutboundMessage:
    """What a session needs of a message: its bytes, and who it belongs to."""

    id: uuid.UUID
    raw: bytes
    mail_from: str
    user_id: int | None
    sender_domain_id: int | None
    sender_domain: str | None
    return_path_subdomain: str | None
    # For a message personalised per recipient (tracking), which is signed at delivery.
    dkim_selector: str | None = None
    dkim_private_key: str | None = field(default=None, repr=False)


_CLAIM = claim_statement(
    Delivery,
    Delivery.status.in_(PENDING),
    (
        Delivery.id,
        Delivery.message_id,
        Delivery.recipient,
        Delivery.recipient_domain,
        Delivery.attempts,
        Delivery.created_at,
        Delivery.subscriber_id,
    ),
)


async def claim_due(
    db: Database, worker: str, limit: int, lease: timedelta, now: datetime | None = None
) -> list[Claimed]:
    """Lease up to `limit` due recipients to `worker`, oldest due first."""
    rows = await lease_rows(db, _CLAIM, worker, limit, lease, now)
    return sorted((Claimed(*row) for row in rows), key=lambda c: (c.message_id, c.id))


_MESSAGES = (
    select(
        Message.id,
        Message.raw,
        Message.mail_from,
        Message.user_id,
        Message.sender_domain_id,
        SenderDomain.name,
        SenderDomain.custom_subdomain,
        SenderDomain.dkim_selector,
        SenderDomain.dkim_private_key,
    )
    .outerjoin(SenderDomain, SenderDomain.id == Message.sender_domain_id)
    .where(Message.id.in_(bindparam("ids", expanding=True)))
)


async def load_messages(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OutboundMessage]:
    rows = await db.rows(_MESSAGES, {"ids": list(ids)})
    return {row[0]: OutboundMessage(*row) for row in rows}


_MERGE_VALUES = select(Subscriber.id, Subscriber.email, Subscriber.custom_fields).where(
    Subscriber.id.in_(bindparam("ids", expanding=True))
)


async def load_merge_values(
    db: Database, subscriber_ids: Sequence[int]
) -> dict[int, dict[str, str]]:
    """Each subscriber's merge values: `email` and its custom fields by tag (lower case), as
    text. A subscriber deleted since it was queued has none."""
    rows = await db.rows(_MERGE_VALUES, {"ids": list(subscriber_ids)})
    return {row[0]: merge_values(row[1], row[2]) for row in rows}


@dataclass(frozen=True)
class AttemptResult:
    """The result of one attempt for one claimed recipient."""

    delivery: Claimed
    status: DeliveryStatus  # DELIVERED, DEFERRED, BOUNCED or FAILED
    reply: str
    remote_host: str | None = None
    enhanced_code: str | None = None
    category: str | None = None
    next_attempt_at: datetime | None = None  # for DEFERRED
    user_id: int | None = None
    sender_domain_id: int | None = None
    suppress: bool = False  # add the recipient to the account's suppression list
    bounce: BounceFields = field(default_factory=BounceFields)  # BOUNCED: its class


EVENT_TYPES = {
    DeliveryStatus.DELIVERED: EventType.DELIVERED,
    DeliveryStatus.DEFERRED: EventType.DEFERRED,
    DeliveryStatus.BOUNCED: EventType.BOUNCED,
    DeliveryStatus.FAILED: EventType.FAILED,
}


# One statement for every outcome, run as an executemany: built once, so a group of outcomes
# costs one compiled statement instead of one per recipient. A column left NULL in the
# parameters keeps its stored value.
_RESULT = (
    update(Delivery)
    .where(Delivery.id == bindparam("b_id"), Delivery.locked_by == bindparam("b_worker"))
    .values(
        # A campaign's recipient paused (held) or canceled while its attempt was under way
        # stays so when the attempt is deferred: it must not become due again.
        # (Constants as SQL text, one flag: no more parameters to process per row.)
        status=case(
            (
                and_(
                    bindparam("b_deferred", type_=Boolean()),
                    Delivery.status.in_(
                        [
                            literal_column(f"'{DeliveryStatus.HELD.value}'"),
                            literal_column(f"'{DeliveryStatus.CANCELED.value}'"),
                        ]
                    ),
                ),
                Delivery.status,
            ),
            else_=bindparam("b_status", type_=Delivery.status.type),
        ),
        attempts=bindparam("b_attempts"),
        last_attempt_at=bindparam("b_now"),
        last_response=bindparam("b_reply"),
        last_remote_host=bindparam("b_host"),
        locked_by=None,
        locked_until=None,
        next_attempt_at=func.coalesce(
            bindparam("b_next", type_=UTCDateTime()), Delivery.next_attempt_at
        ),
        delivered_at=func.coalesce(
            bindparam("b_delivered", type_=UTCDateTime()), Delivery.delivered_at
        ),
    )
    .execution_options(synchronize_session=False)
)

_STILL_LEASED = select(Delivery.id).where(
    Delivery.id.in_(bindparam("ids", expanding=True)), Delivery.locked_by == bindparam("worker")
)


def _apply(conn: Connection, worker: str, outcomes: Sequence[AttemptResult]) -> None:
    now = utcnow()
    # Rows no longer leased to this worker were removed by an operator (or the lease was lost
    # to another worker): their outcome is not recorded.
    ids = [outcome.delivery.id for outcome in outcomes]
    held = set(conn.execute(_STILL_LEASED, {"ids": ids, "worker": worker}).scalars())
    recorded = [
        _domain_checked(conn, outcome, now) for outcome in outcomes if outcome.delivery.id in held
    ]
    if not recorded:
        return
    conn.execute(
        _RESULT,
        [
            {
                "b_id": outcome.delivery.id,
                "b_worker": worker,
                "b_status": outcome.status,
                "b_deferred": outcome.status is DeliveryStatus.DEFERRED,
                "b_attempts": outcome.delivery.attempts + 1,
                "b_now": now,
                "b_reply": outcome.reply[:2000],
                "b_host": outcome.remote_host,
                "b_next": (outcome.next_attempt_at or now)
                if outcome.status is DeliveryStatus.DEFERRED
                else None,
                "b_delivered": now if outcome.status is DeliveryStatus.DELIVERED else None,
            }
            for outcome in recorded
        ],
    )
    record_events(conn, [_event(outcome, now) for outcome in recorded])
    for outcome in recorded:
        if outcome.suppress and outcome.user_id is not None:
            reason = outcome.category or "hard bounce"
            suppress(conn, outcome.delivery.recipient, reason, "delivery", outcome.user_id)


def _domain_checked(conn: Connection, outcome: AttemptResult, now: datetime) -> AttemptResult:
    """A bounce that would suppress because the recipient's domain has no mail service does so
    only once the domain was seen so at least an hour before (storage/suppressions.py)."""
    if not outcome.suppress or outcome.bounce.get("bounce_reason") not in DOMAIN_REASONS:
        return outcome
    if seen_dead_long_enough(conn, outcome.delivery.recipient, now):
        return outcome
    bounce: BounceFields = {**outcome.bounce, "address_suppressed": False}
    return dataclasses.replace(outcome, suppress=False, bounce=bounce)


def _event(outcome: AttemptResult, now: datetime) -> EventRecord:
    claimed = outcome.delivery
    data: AttemptData = {
        "remote_host": outcome.remote_host,
        "reply": outcome.reply,
        "enhanced_code": outcome.enhanced_code,
        "category": outcome.category,
        "attempt": claimed.attempts + 1,
    }
    if "bounce_type" in outcome.bounce:  # key by key: the checker takes no partial update
        data["bounce_type"] = outcome.bounce["bounce_type"]
    if "address_suppressed" in outcome.bounce:
        data["address_suppressed"] = outcome.bounce["address_suppressed"]
    if "bounce_reason" in outcome.bounce:
        data["bounce_reason"] = outcome.bounce["bounce_reason"]
    if outcome.status is DeliveryStatus.DELIVERED:
        data["seconds"] = round((now - claimed.created_at).total_seconds(), 3)
    if outcome.status is DeliveryStatus.DEFERRED and outcome.next_attempt_at is not None:
        data["next_attempt_at"] = outcome.next_attempt_at.isoformat()
    return {
        "type": EVENT_TYPES[outcome.status],
        "message_id": claimed.message_id,
        "delivery_id": claimed.id,
        "recipient": claimed.recipient,
        "user_id": outcome.user_id,
        "sender_domain_id": outcome.sender_domain_id,
        "created_at": now,
        "data": data,
    }


async def record_outcomes(db: Database, worker: str, outcomes: Sequence[AttemptResult]) -> None:
    """Store each outcome and its event (and suppressions) in one transaction."""
    if outcomes:
        await db.write(lambda conn: _apply(conn, worker, outcomes))


async def release(db: Database, worker: str, deliveries: Sequence[Claimed]) -> None:
    """Give claimed rows back untouched (shutdown before they were attempted)."""
    ids = [claimed.id for claimed in deliveries]
    if not ids:
        return
    statement = (
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.locked_by == worker)
        .values(locked_by=None, locked_until=None)
    )
    await db.write(lambda conn: conn.execute(statement))


_WITHDRAWN = select(Delivery.id).where(
    Delivery.id.in_(bindparam("ids", expanding=True)),
    Delivery.status.in_((DeliveryStatus.HELD, DeliveryStatus.CANCELED)),
)


async def withdrawn(db: Database, worker: str, deliveries: Sequence[Claimed]) -> list[Claimed]:
    """The claimed campaign recipients held (paused) or canceled since they were claimed: they
    are not sent, and their rows are let go so that a resume queues them at once."""
    ids = [claimed.id for claimed in deliveries]
    found = {row[0] for row in await db.rows(_WITHDRAWN, {"ids": ids})}
    gone = [claimed for claimed in deliveries if claimed.id in found]
    await release(db, worker, gone)
    return gone
