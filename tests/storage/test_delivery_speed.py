"""Delivery speed to one recipient domain on both backends: finished deliveries with known
timestamps land in the right buckets with exact totals and seconds; other sender domains, other
recipient domains, unfinished deliveries and deliveries queued outside the period are left out."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from storage import accounts, domains
from storage.delivery_speed import FAILED, SENT, OutcomeSpeed, SpeedBucket, delivery_speed
from storage.dialects import whole_seconds
from storage.engine import Database
from storage.models import Delivery, DeliveryStatus, utcnow
from tests.storage.support import queue_message

DELIVERED = DeliveryStatus.DELIVERED
BOUNCED = DeliveryStatus.BOUNCED
FAILED_STATUS = DeliveryStatus.FAILED
# Seconds from queueing to delivery, at and around every bucket's bounds.
SENT_SECONDS = [0, 0.999, 1, 4.999, 5, 10, 30, 59.5, 60, 299, 300, 600, 3600]


async def finish(
    db: Database,
    recipient: str,
    status: DeliveryStatus,
    queued_at: datetime,
    seconds: float | None,
) -> None:
    """Give the queued delivery to `recipient` the status `status`, its last attempt `seconds`
    after `queued_at` (no attempt at all when `seconds` is None)."""
    ended = queued_at + timedelta(seconds=seconds) if seconds is not None else None

    def setup(conn: Connection) -> None:
        conn.execute(
            update(Delivery)
            .where(Delivery.recipient == recipient)
            .values(
                status=status,
                created_at=queued_at,
                last_attempt_at=ended,
                delivered_at=ended if status is DeliveryStatus.DELIVERED else None,
            )
        )

    await db.write(setup)


async def sender_domains(db: Database) -> tuple[int, int]:
    user = (await accounts.create_user(db, "owner@speed.test")).user_id
    mine = (await domains.add_domain(db, user, "speed.test", "bounces")).id
    other = (await domains.add_domain(db, user, "elsewhere.test", "bounces")).id
    return mine, other


async def mail(
    db: Database, domain_id: int, outcomes: list[tuple[str, DeliveryStatus, float | None]]
) -> list[tuple[str, DeliveryStatus, float | None]]:
    await queue_message(db, [to for to, _, _ in outcomes], sender_domain_id=domain_id)
    return outcomes


async def test_buckets_and_summaries_are_exact(db: Database) -> None:
    mine, other = await sender_domains(db)
    queued_at = utcnow().replace(microsecond=0) - timedelta(days=1)
    outcomes = await mail(
        db,
        mine,
        [(f"s{n}@Dest.Example", DELIVERED, s) for n, s in enumerate(SENT_SECONDS)]
        + [
            ("b1@dest.example", BOUNCED, 2),
            ("f1@dest.example", FAILED_STATUS, 7.5),
            ("f2@dest.example", FAILED_STATUS, 12),
            ("cleared@dest.example", FAILED_STATUS, None),  # failed before any attempt
            ("later@dest.example", DeliveryStatus.DEFERRED, 20),  # not finished yet
            ("elsewhere@other.example", DELIVERED, 3),  # another recipient domain
        ],
    )
    outcomes += await mail(db, other, [("theirs@dest.example", DELIVERED, 3)])
    for recipient, status, seconds in outcomes:
        await finish(db, recipient, status, queued_at, seconds)
    await queue_message(db, ["waiting@dest.example"], sender_domain_id=mine)  # still queued

    since, until = queued_at - timedelta(hours=1), queued_at + timedelta(hours=1)
    speeds = await delivery_speed(db, mine, "DEST.example", since, until)
    total_seconds = 0 + 0 + 1 + 4 + 5 + 10 + 30 + 59 + 60 + 299 + 300 + 600 + 3600
    assert speeds == {
        SENT: OutcomeSpeed(
            total=13,
            avg_seconds=pytest.approx(total_seconds / 13),
            min_seconds=0,
            max_seconds=3600,
            buckets=[
                SpeedBucket("< 1s", 2),
                SpeedBucket("1-5s", 2),
                SpeedBucket("5-10s", 1),
                SpeedBucket("10-30s", 1),
                SpeedBucket("30-60s", 2),
                SpeedBucket("1-5m", 2),
                SpeedBucket("5-10m", 1),
                SpeedBucket("> 10m", 2),
            ],
        ),
        FAILED: OutcomeSpeed(
            total=3,
            avg_seconds=pytest.approx(7.0),  # 2, 7 and 12 whole seconds
            min_seconds=2,
            max_seconds=12,
            buckets=[SpeedBucket("1-5s", 1), SpeedBucket("5-10s", 1), SpeedBucket("10-30s", 1)],
        ),
    }
    theirs = await delivery_speed(db, other, "dest.example", since, until)
    assert theirs[SENT].total == 1 and set(theirs) == {SENT}


async def test_period_is_by_queueing_time(db: Database) -> None:
    mine, _ = await sender_domains(db)
    now = utcnow()
    recent, old = now - timedelta(days=2), now - timedelta(days=40)
    await queue_message(db, ["new@dest.example", "old@dest.example"], sender_domain_id=mine)
    await finish(db, "new@dest.example", DELIVERED, recent, 0.5)
    await finish(db, "old@dest.example", BOUNCED, old, 40)

    last_month = await delivery_speed(db, mine, "dest.example", now - timedelta(days=28), now)
    assert set(last_month) == {SENT} and last_month[SENT].buckets == [SpeedBucket("< 1s", 1)]
    earlier = await delivery_speed(db, mine, "dest.example", old, old + timedelta(days=1))
    assert set(earlier) == {FAILED}
    assert earlier[FAILED].buckets == [SpeedBucket("30-60s", 1)]
    # The bounds: queued exactly at `since` is in, exactly at `until` is out.
    assert set(await delivery_speed(db, mine, "dest.example", recent, now)) == {SENT}
    assert await delivery_speed(db, mine, "dest.example", old - timedelta(days=1), old) == {}
    assert await delivery_speed(db, mine, "nobody.example", old, now) == {}


async def test_whole_seconds_truncate_to_the_second(db: Database) -> None:
    mine, _ = await sender_domains(db)
    start = utcnow().replace(microsecond=0)
    cases = {"a@x.example": 0.001, "b@x.example": 1.999, "c@x.example": 86400 + 59.999}
    await queue_message(db, list(cases), sender_domain_id=mine)
    for to, seconds in cases.items():
        await finish(db, to, DELIVERED, start, seconds)
    query = select(Delivery.recipient, whole_seconds(Delivery.created_at, Delivery.delivered_at))
    found = dict(await db.rows(query.order_by(Delivery.recipient)))
    assert found == {"a@x.example": 0, "b@x.example": 1, "c@x.example": 86459}
