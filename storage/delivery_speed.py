"""How fast a sender domain's mail reaches one recipient domain: for the deliveries queued in a
period that have finished, the whole seconds from queueing (`deliveries.created_at`) to the
outcome (`delivered_at`, or `last_attempt_at` for a bounce or failure), per outcome and per speed
bucket, bucketed and aggregated in one query over the index on the recipient domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Subquery, case, func, select

from storage.dialects import whole_seconds
from storage.engine import Database
from storage.models import Delivery, DeliveryStatus, Message

SENT, FAILED = "sent", "failed"  # delivered; bounced or failed
FINISHED = [DeliveryStatus.DELIVERED, DeliveryStatus.BOUNCED, DeliveryStatus.FAILED]
# (upper bound in whole seconds, exclusive; label), fastest first; the last has no bound.
BUCKETS: list[tuple[int | None, str]] = [
    (1, "< 1s"),
    (5, "1-5s"),
    (10, "5-10s"),
    (30, "10-30s"),
    (60, "30-60s"),
    (300, "1-5m"),
    (600, "5-10m"),
    (None, "> 10m"),
]


@dataclass(frozen=True)
class SpeedBucket:
    label: str
    count: int


@dataclass(frozen=True)
class OutcomeSpeed:
    """One outcome's deliveries: how many, their seconds, and the non-empty buckets in order."""

    total: int
    avg_seconds: float
    min_seconds: int
    max_seconds: int
    buckets: list[SpeedBucket]


def _finished(
    sender_domain_id: int, recipient_domain: str, since: datetime, until: datetime
) -> Subquery:
    """One row per finished delivery queued in [since, until): its outcome, seconds, bucket.

    A delivery failed before any attempt (a cleared queue) has no outcome time and is left out.
    """
    sent = Delivery.status == DeliveryStatus.DELIVERED
    ended = case((sent, Delivery.delivered_at), else_=Delivery.last_attempt_at)
    timed = (
        select(
            case((sent, SENT), else_=FAILED).label("outcome"),
            whole_seconds(Delivery.created_at, ended).label("seconds"),
        )
        .join(Message, Message.id == Delivery.message_id)
        .where(
            Delivery.recipient_domain == recipient_domain.lower(),
            Delivery.status.in_(FINISHED),
            Delivery.created_at >= since,
            Delivery.created_at < until,
            ended.is_not(None),
            Message.sender_domain_id == sender_domain_id,
        )
        .subquery()
    ).c
    bucket = case(
        *((timed.seconds < bound, n) for n, (bound, _) in enumerate(BUCKETS) if bound is not None),
        else_=len(BUCKETS) - 1,
    )
    return select(timed.outcome, timed.seconds, bucket.label("bucket")).subquery()


async def delivery_speed(
    db: Database,
    sender_domain_id: int,
    recipient_domain: str,
    since: datetime,
    until: datetime,
) -> dict[str, OutcomeSpeed]:
    """SENT and FAILED (those present) -> their speed, for the sender domain's deliveries to
    `recipient_domain` (any case) queued in [since, until)."""
    rows = _finished(sender_domain_id, recipient_domain, since, until).c
    # One row per (outcome, bucket): its count, then the outcome's totals over all its buckets.
    query = (
        select(
            rows.outcome,
            rows.bucket,
            func.count(),
            func.sum(func.count()).over(partition_by=rows.outcome),
            func.sum(func.sum(rows.seconds)).over(partition_by=rows.outcome),
            func.min(func.min(rows.seconds)).over(partition_by=rows.outcome),
            func.max(func.max(rows.seconds)).over(partition_by=rows.outcome),
        )
        .group_by(rows.outcome, rows.bucket)
        .order_by(rows.outcome, rows.bucket)
    )
    result = await db.scan(query)
    speeds: dict[str, OutcomeSpeed] = {}
    for outcome, bucket, count, total, seconds, least, most in result:
        if outcome not in speeds:
            average = float(seconds) / float(total)
            speeds[outcome] = OutcomeSpeed(int(total), average, int(least), int(most), [])
        speeds[outcome].buckets.append(SpeedBucket(BUCKETS[bucket][1], int(count)))
    return speeds
