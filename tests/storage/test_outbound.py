"""The queue's delivery side on both backends: what is due, leases, concurrent claims that never
overlap, scheduled messages, and outcomes recorded only for rows still leased."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from storage.engine import Database
from storage.models import Delivery, DeliveryStatus, utcnow
from storage.outbound import AttemptResult, claim_due, load_messages, record_outcomes, release
from tests.storage.support import queue_message

LEASE = timedelta(minutes=5)


async def queue(db: Database, recipients: list[str], send_in: timedelta | None = None) -> uuid.UUID:
    return await queue_message(db, recipients, send_at=utcnow() + send_in if send_in else None)


async def test_claims_lease_and_release(db: Database) -> None:
    message_id = await queue(db, ["a@x.example", "b@y.example"])
    claimed = await claim_due(db, "w1", 10, LEASE)
    assert [(c.message_id, c.recipient, c.attempts) for c in claimed] == [
        (message_id, "a@x.example", 0),
        (message_id, "b@y.example", 0),
    ]
    assert await claim_due(db, "w2", 10, LEASE) == []  # leased to w1
    later = utcnow() + LEASE + timedelta(seconds=1)
    assert len(await claim_due(db, "w2", 10, LEASE, now=later)) == 2  # the lease ran out

    await release(db, "w2", claimed)
    assert len(await claim_due(db, "w3", 10, LEASE)) == 2
    loaded = await load_messages(db, [message_id])
    assert loaded[message_id].raw == b"Subject: x\r\n\r\nbody\r\n"


async def test_concurrent_claims_never_overlap(db: Database) -> None:
    for index in range(40):
        await queue(db, [f"r{index}-{n}@x.example" for n in range(5)])
    batches = await asyncio.gather(*(claim_due(db, f"w{n}", 30, LEASE) for n in range(8)))
    ids = [claimed.id for batch in batches for claimed in batch]
    assert len(ids) == len(set(ids)) == 200


async def test_scheduled_messages_wait_for_their_time(db: Database) -> None:
    await queue(db, ["later@x.example"], send_in=timedelta(hours=1))
    assert await claim_due(db, "w1", 10, LEASE) == []
    due = await claim_due(db, "w1", 10, LEASE, now=utcnow() + timedelta(hours=1, seconds=1))
    assert [c.recipient for c in due] == ["later@x.example"]


async def test_outcomes_are_recorded_only_for_rows_still_leased(db: Database) -> None:
    await queue(db, ["a@x.example", "b@x.example"])
    first, second = await claim_due(db, "w1", 10, LEASE)
    await release(db, "w1", [second])  # as if an operator took it away
    retry_at = utcnow() + timedelta(minutes=10)
    await record_outcomes(
        db,
        "w1",
        [
            AttemptResult(first, DeliveryStatus.DEFERRED, "451 4.3.0 later", "mx", "4.3.0",
                    next_attempt_at=retry_at),
            AttemptResult(second, DeliveryStatus.DELIVERED, "250 ok", "mx"),
        ],
    )  # fmt: skip
    rows = {
        row.recipient: row
        for row in await db.rows(select(Delivery.__table__).order_by(Delivery.id))
    }
    a, b = rows["a@x.example"], rows["b@x.example"]
    assert (a.status, a.attempts, a.last_response, a.locked_by) == (
        "deferred",
        1,
        "451 4.3.0 later",
        None,
    )
    assert abs((a.next_attempt_at - retry_at).total_seconds()) < 1
    assert a.delivered_at is None
    assert (b.status, b.attempts) == ("queued", 0)  # untouched


async def test_a_held_or_canceled_recipient_deferred_meanwhile_stays_so(db: Database) -> None:
    """A campaign paused or canceled during an attempt: a deferral does not make the row due
    again, a delivery is still recorded as one."""
    await queue(db, ["held@x.example", "canceled@x.example", "sent@x.example"])
    held, canceled, sent = await claim_due(db, "w1", 10, LEASE)
    for claimed, status in ((held, "held"), (canceled, "canceled"), (sent, "held")):
        statement = (
            update(Delivery).where(Delivery.id == claimed.id).values(status=DeliveryStatus(status))
        )
        await db.write(lambda conn, statement=statement: conn.execute(statement))
    later = utcnow() + timedelta(minutes=10)
    await record_outcomes(
        db,
        "w1",
        [
            AttemptResult(held, DeliveryStatus.DEFERRED, "451 later", "mx", next_attempt_at=later),
            AttemptResult(
                canceled, DeliveryStatus.DEFERRED, "451 later", "mx", next_attempt_at=later
            ),
            AttemptResult(sent, DeliveryStatus.DELIVERED, "250 ok", "mx"),
        ],
    )
    rows = dict(await db.rows(select(Delivery.recipient, Delivery.status)))
    assert rows == {
        "held@x.example": DeliveryStatus.HELD,
        "canceled@x.example": DeliveryStatus.CANCELED,
        "sent@x.example": DeliveryStatus.DELIVERED,
    }
    assert await claim_due(db, "w2", 10, LEASE, now=later + LEASE) == []
