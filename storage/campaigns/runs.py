"""A campaign's runs at the storage level: starting one, queueing its recipients batch by
batch, pausing, resuming and canceling the campaign, and finding runs that are done.

Queueing is set-based: a batch is the next `limit` subscribers of the run's current target (a
list, with its criteria) after the run's cursor, in id order. One transaction counts that window
(inactive, suppressed), copies the eligible addresses into `deliveries` with one INSERT ...
SELECT (ON CONFLICT (message_id, recipient) DO NOTHING: an address on two targets, or a batch
run again, is queued once), adds their "queued" events with another, and moves the cursor. No
subscriber passes through Python, so memory does not grow with the list.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    String,
    Uuid,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from storage.campaigns.audience import criteria_condition
from storage.campaigns.rules import ALLOWED_FROM, Transition
from storage.dialects import dialect_insert
from storage.engine import Database
from storage.event_names import EventType
from storage.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Event,
    Message,
    RunStatus,
    Subscriber,
    SubscriberState,
    UTCDateTime,
    utcnow,
)
from storage.suppressions import suppressed_for

DEFAULT_BATCH = 2000  # SQLite: ~30,000 recipients/s; a batch holds the writer ~70 ms
# Deliveries a run still has to send: pause holds the first two, cancel cancels all three.
PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)
UNSENT = (*PENDING, DeliveryStatus.HELD)
LIVE_RUNS = (RunStatus.QUEUEING, RunStatus.PAUSED, RunStatus.QUEUED)
CANCELABLE = ALLOWED_FROM[Transition.CANCEL]  # every campaign that has not ended


@dataclass(frozen=True)
class BatchResult:
    """What one batch did. `finished`: nothing more will be queued for the run (every target
    is done, or the run was canceled); False while there is more, and while it is paused."""

    queued: int
    skipped_inactive: int
    skipped_suppressed: int
    duplicates: int
    finished: bool


async def start_run(
    db: Database, campaign_id: int, message_id: uuid.UUID, plan: Mapping[str, Any]
) -> int | None:
    """A new run of the campaign (its next instance) that queues `plan`'s recipients for the
    stored `message_id`; the campaign becomes Sending. Returns the run's id, or None when the
    campaign is no longer Ready or Scheduled (canceled, paused back to Draft, deleted while its
    message was being built)."""

    def work(conn: Connection) -> int | None:
        now = utcnow()
        instance = conn.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.status.in_(ALLOWED_FROM[Transition.START]),
                Campaign.deleted_at.is_(None),
            )
            .values(
                instances=Campaign.instances + 1,
                status=CampaignStatus.SENDING,
                sent_at=now,
                updated_at=now,
            )
            .returning(Campaign.instances)
        ).scalar_one_or_none()
        if instance is None:
            return None
        run = CampaignRun.__table__.insert().values(
            campaign_id=campaign_id,
            instance=instance,
            message_id=message_id,
            status=RunStatus.QUEUEING,
            plan=plan,
            target_index=0,
            cursor=0,
            queued=0,
            skipped_inactive=0,
            skipped_suppressed=0,
            duplicates=0,
            canceled=0,
            started_at=now,
        )
        return int(conn.execute(run.returning(CampaignRun.id)).scalar_one())

    return await db.write(work)


# -- queueing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    status: RunStatus
    plan: dict[str, Any]
    target_index: int
    cursor: int
    message_id: uuid.UUID | None
    user_id: int
    sender_domain_id: int | None


def _locked_run(conn: Connection, run_id: int) -> _Run | None:
    """The run and what queueing needs of its campaign and message, its row locked (on
    PostgreSQL; SQLite's writer is alone) so that one batch of a run runs at a time and pause
    or cancel wait for it."""
    statement = (
        select(
            CampaignRun.status,
            CampaignRun.plan,
            CampaignRun.target_index,
            CampaignRun.cursor,
            CampaignRun.message_id,
            Campaign.user_id,
            Message.sender_domain_id,
        )
        .join(Campaign, Campaign.id == CampaignRun.campaign_id)
        .outerjoin(Message, Message.id == CampaignRun.message_id)
        .where(CampaignRun.id == run_id)
        .with_for_update(of=CampaignRun)
    )
    row = conn.execute(statement).first()
    return _Run(*row) if row is not None else None


def _suppressed(email: Any, user_id: int, sender_domain_id: int | None) -> Any:
    """The address is suppressed for everyone, for the account or for the sender domain."""
    return exists().where(suppressed_for(func.lower(email), user_id, sender_domain_id))


def _excluded(email: Any, exclude: list[Mapping[str, Any]]) -> Any:
    """The address is on one of the excluded lists (matching that entry's criteria), in
    whatever state it is there."""
    conditions = []
    for entry in exclude:
        other = aliased(Subscriber)
        conditions.append(
            exists().where(
                other.list_id == entry["list_id"],
                other.email == email,
                criteria_condition(entry.get("criteria"), other),
            )
        )
    return or_(*conditions) if conditions else literal(False)


def _domain_of(email: Any) -> Any:
    """The lower-case part after the last @ (rtrim strips every character but @ from the
    right, which leaves the address up to its last @): the same SQL on both backends."""
    up_to_at = func.rtrim(email, func.replace(email, "@", ""))
    return func.lower(func.substr(email, func.length(up_to_at) + 1))


def _queue_window(
    conn: Connection, run: _Run, run_id: int, limit: int, now: datetime
) -> BatchResult:
    targets = run.plan.get("targets", [])
    target = targets[run.target_index]
    window = (
        select(Subscriber.id, Subscriber.email, Subscriber.state)
        .where(
            Subscriber.list_id == target["list_id"],
            Subscriber.id > run.cursor,
            criteria_condition(target.get("criteria")),
        )
        .order_by(Subscriber.id)
        .limit(limit)
        .subquery("batch")
    )
    active = window.c.state == int(SubscriberState.ACTIVE)
    suppressed = _suppressed(window.c.email, run.user_id, run.sender_domain_id)
    eligible = and_(active, not_(suppressed), not_(_excluded(window.c.email, run.plan["exclude"])))

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    seen, last_id, inactive, skipped, wanted = conn.execute(
        select(
            func.count(),
            func.max(window.c.id),
            count(not_(active)),
            count(and_(active, suppressed)),
            count(eligible),
        ).select_from(window)
    ).one()
    queued = _queue_recipients(conn, run, window, eligible, now) if wanted else 0
    if queued:  # what sending limits sum over the hour and the day (messages.recipient_count)
        conn.execute(
            update(Message)
            .where(Message.id == run.message_id)
            .values(recipient_count=Message.recipient_count + queued)
        )
    done = seen < limit
    index = run.target_index + 1 if done else run.target_index
    finished = index >= len(targets)
    conn.execute(
        update(CampaignRun)
        .where(CampaignRun.id == run_id)
        .values(
            target_index=index,
            cursor=0 if done else last_id,
            queued=CampaignRun.queued + queued,
            skipped_inactive=CampaignRun.skipped_inactive + inactive,
            skipped_suppressed=CampaignRun.skipped_suppressed + skipped,
            duplicates=CampaignRun.duplicates + (wanted - queued),
            **({"status": RunStatus.QUEUED, "queued_at": now} if finished else {}),
        )
    )
    return BatchResult(queued, inactive, skipped, wanted - queued, finished)


_DELIVERY_COLUMNS = (
    "message_id",
    "recipient",
    "recipient_domain",
    "status",
    "attempts",
    "next_attempt_at",
    "subscriber_id",
    "created_at",
)
_EVENT_COLUMNS = (
    "type",
    "message_id",
    "delivery_id",
    "recipient",
    "user_id",
    "sender_domain_id",
    "created_at",
    "data",
)


def _queue_recipients(
    conn: Connection, run: _Run, window: Any, eligible: Any, now: datetime
) -> int:
    """Insert the window's eligible addresses into `deliveries` (none that the message has
    already) and a "queued" event for each inserted; returns how many were inserted."""
    rows = select(
        literal(run.message_id, Uuid()),
        window.c.email,
        _domain_of(window.c.email),
        literal(DeliveryStatus.QUEUED.value, String()),
        literal(0, Integer()),
        literal(now, UTCDateTime()),
        window.c.id,
        literal(now, UTCDateTime()),
    ).where(eligible)
    inserting = (
        dialect_insert(conn)(Delivery)
        .from_select(_DELIVERY_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["message_id", "recipient"])
    )
    if conn.dialect.name == "postgresql":
        # One statement: the events are made from the INSERT's RETURNING.
        inserted = inserting.returning(Delivery.id, Delivery.recipient).cte("inserted")
        events = _events(run, inserted.c.id, inserted.c.recipient, now).select_from(inserted)
        return int(conn.execute(_EVENTS_INSERT.from_select(_EVENT_COLUMNS, events)).rowcount)
    # SQLite has no INSERT in a WITH: the batch's rows are the window's addresses found in the
    # message's deliveries (by the unique index) with ids past the largest before the INSERT
    # (the only writer is this transaction).
    before = conn.execute(select(func.coalesce(func.max(Delivery.id), 0))).scalar_one()
    queued = int(conn.execute(inserting).rowcount)
    if queued:
        delivery = and_(Delivery.message_id == run.message_id, Delivery.recipient == window.c.email)
        events = (
            _events(run, Delivery.id, Delivery.recipient, now)
            .select_from(window.join(Delivery, delivery))
            .where(Delivery.id > before)
        )
        conn.execute(_EVENTS_INSERT.from_select(_EVENT_COLUMNS, events))
    return queued


_EVENTS_INSERT = Event.__table__.insert()


def _events(run: _Run, delivery_id: Any, recipient: Any, now: datetime) -> Any:
    """The "queued" event rows of deliveries (their ids and recipients) of the run's message."""
    return select(
        literal(EventType.QUEUED.value, String()),
        literal(run.message_id, Uuid()),
        delivery_id,
        recipient,
        literal(run.user_id, BigInteger()),
        literal(run.sender_domain_id, BigInteger()),
        literal(now, UTCDateTime()),
        literal({"source": "campaign"}, JSON()),
    )


async def queue_batch(
    db: Database, run_id: int, limit: int = DEFAULT_BATCH, now: datetime | None = None
) -> BatchResult:
    """Queue the run's next `limit` subscribers in one transaction (see the module's doc). A
    run that is not queueing queues nothing; when the last target is done the run is QUEUED."""

    def work(conn: Connection) -> BatchResult:
        run = _locked_run(conn, run_id)
        if run is None or run.status is not RunStatus.QUEUEING:
            return BatchResult(0, 0, 0, 0, run is None or run.status is not RunStatus.PAUSED)
        at = now or utcnow()
        if run.message_id is None:  # its message was deleted: nothing left to send
            conn.execute(
                update(CampaignRun)
                .where(CampaignRun.id == run_id)
                .values(status=RunStatus.FAILED, finished_at=at)
            )
            return BatchResult(0, 0, 0, 0, True)
        if run.target_index >= len(run.plan.get("targets", [])):
            conn.execute(
                update(CampaignRun)
                .where(CampaignRun.id == run_id)
                .values(status=RunStatus.QUEUED, queued_at=at)
            )
            return BatchResult(0, 0, 0, 0, True)
        return _queue_window(conn, run, run_id, limit, at)

    return await db.write(work)


# -- pause, resume, cancel ------------------------------------------------------------------------


def _set_campaign(
    conn: Connection, campaign_id: int, when: tuple[CampaignStatus, ...], **values: Any
) -> bool:
    statement = (
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(when))
        .values(updated_at=utcnow(), **values)
    )
    return bool(conn.execute(statement).rowcount)


def _set_runs(
    conn: Connection, campaign_id: int, when: tuple[Any, ...], *more: Any, **values: Any
) -> list[uuid.UUID]:
    """Set `values` on the campaign's runs in a status of `when`; their messages' ids."""
    statement = (
        update(CampaignRun)
        .where(CampaignRun.campaign_id == campaign_id, CampaignRun.status.in_(when), *more)
        .values(**values)
        .returning(CampaignRun.message_id)
    )
    return [m for m in conn.execute(statement).scalars() if m is not None]


def _set_deliveries(
    conn: Connection, messages: list[uuid.UUID], when: tuple[Any, ...], **values: Any
) -> int:
    if not messages:
        return 0
    statement = (
        update(Delivery)
        .where(Delivery.message_id.in_(messages), Delivery.status.in_(when))
        .values(**values)
    )
    return int(conn.execute(statement).rowcount)


async def pause_campaign(db: Database, campaign_id: int) -> bool:
    """A Sending campaign becomes Paused: its runs stop queueing, and their recipients not yet
    sent (queued, deferred) are HELD. False when the campaign is not Sending."""

    def work(conn: Connection) -> bool:
        if not _set_campaign(
            conn, campaign_id, ALLOWED_FROM[Transition.PAUSE], status=CampaignStatus.PAUSED
        ):
            return False
        live = (RunStatus.QUEUEING, RunStatus.QUEUED)
        messages = _set_runs(conn, campaign_id, live, status=RunStatus.PAUSED)
        _set_deliveries(conn, messages, PENDING, status=DeliveryStatus.HELD)
        return True

    return await db.write(work)


async def resume_campaign(db: Database, campaign_id: int) -> bool:
    """A Paused campaign is Sending again: held recipients are due now, and each paused run
    goes back to queueing (or to queued, when it had queued everyone: `queued_at` says so).
    False when the campaign is not Paused."""

    def work(conn: Connection) -> bool:
        if not _set_campaign(
            conn, campaign_id, ALLOWED_FROM[Transition.RESUME], status=CampaignStatus.SENDING
        ):
            return False
        paused = (RunStatus.PAUSED,)
        messages = _set_runs(
            conn, campaign_id, paused, CampaignRun.queued_at.is_(None), status=RunStatus.QUEUEING
        )
        messages += _set_runs(conn, campaign_id, paused, status=RunStatus.QUEUED)
        _set_deliveries(
            conn,
            messages,
            (DeliveryStatus.HELD,),
            status=DeliveryStatus.QUEUED,
            next_attempt_at=utcnow(),
        )
        return True

    return await db.write(work)


async def cancel_campaign(db: Database, campaign_id: int) -> bool:
    """The campaign is Canceled (from any status but Sent, Failed and Canceled):
    its live runs stop, and their recipients not yet sent (queued, deferred, held) are
    CANCELED, counted in the run's `canceled`. False from any other status."""

    def work(conn: Connection) -> bool:
        now = utcnow()
        if not _set_campaign(
            conn,
            campaign_id,
            CANCELABLE,
            status=CampaignStatus.CANCELED,
            next_run_at=None,
            finished_at=now,
        ):
            return False
        # The runs first: an UPDATE of a run waits for a batch that holds it (PostgreSQL), so
        # the deliveries' UPDATE after it sees that batch's recipients too.
        runs = conn.execute(
            update(CampaignRun)
            .where(CampaignRun.campaign_id == campaign_id, CampaignRun.status.in_(LIVE_RUNS))
            .values(status=RunStatus.CANCELED, finished_at=now)
            .returning(CampaignRun.id, CampaignRun.message_id)
        ).all()
        for run_id, message_id in runs:
            messages = [message_id] if message_id is not None else []
            canceled = _set_deliveries(conn, messages, UNSENT, status=DeliveryStatus.CANCELED)
            conn.execute(
                update(CampaignRun)
                .where(CampaignRun.id == run_id)
                .values(canceled=CampaignRun.canceled + canceled)
            )
        return True

    return await db.write(work)


# -- the end of a run ---------------------------------------------------------------------------


async def finish_runs(db: Database, now: datetime | None = None) -> list[int]:
    """Runs that queued everyone and whose message has no recipient left to send (queued,
    deferred or held) are DONE; returns their campaigns' ids."""
    unsent = exists().where(
        Delivery.message_id == CampaignRun.message_id, Delivery.status.in_(UNSENT)
    )
    statement = (
        update(CampaignRun)
        .where(CampaignRun.status == RunStatus.QUEUED, not_(unsent))
        .values(status=RunStatus.DONE, finished_at=now or utcnow())
        .returning(CampaignRun.campaign_id)
    )
    return await db.write(lambda conn: sorted(set(conn.execute(statement).scalars())))


async def complete_campaign(
    db: Database, campaign_id: int, next_run_at: datetime | None, now: datetime | None = None
) -> bool:
    """A Sending campaign whose run is done: Sent (finished now) when `next_run_at` is None,
    else Scheduled again for its next recurrence. False when it is no longer Sending."""
    if next_run_at is None:
        values: dict[str, Any] = {
            "status": CampaignStatus.SENT,
            "finished_at": now or utcnow(),
            "next_run_at": None,
        }
    else:
        values = {"status": CampaignStatus.SCHEDULED, "next_run_at": next_run_at}
    return await db.write(
        lambda conn: _set_campaign(conn, campaign_id, (CampaignStatus.SENDING,), **values)
    )
