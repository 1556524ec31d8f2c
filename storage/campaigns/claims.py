"""What the campaign scheduler claims, safely with several schedulers on several nodes.

A due campaign (Ready or Scheduled, `next_run_at` passed) is claimed by moving its `next_run_at`
a lease ahead with a guarded UPDATE: only one scheduler's UPDATE matches. The claimer then builds
the run's message and starts the run (status Sending); a scheduler that dies in between leaves
the campaign due again when the lease ends, so a campaign is never lost, at worst rebuilt.

A run that is queueing recipients is leased (`locked_by`, `locked_until`) to one scheduler at a
time: queueing is done in batches that each commit with the run's cursor, so a run whose
scheduler died is taken over where the last batch left it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

from storage.campaigns.rules import ALLOWED_FROM, Transition
from storage.engine import Database, changed_rows
from storage.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    Message,
    RunStatus,
    ScheduleType,
)

STARTABLE = ALLOWED_FROM[Transition.START]


async def due_campaigns(db: Database, now: datetime, limit: int = 10) -> list[int]:
    """Ids of campaigns whose next run is due (index ix_campaigns_due)."""
    rows = await db.rows(
        select(Campaign.id)
        .where(
            Campaign.status.in_(STARTABLE),
            Campaign.next_run_at <= now,
            Campaign.deleted_at.is_(None),
        )
        .order_by(Campaign.next_run_at)
        .limit(limit)
    )
    return [row[0] for row in rows]


async def claim_campaign(db: Database, campaign_id: int, now: datetime, lease: timedelta) -> bool:
    """Take a due campaign for `lease`; False when another scheduler took it first or it is no
    longer due (paused, canceled, rescheduled meanwhile)."""
    statement = (
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status.in_(STARTABLE),
            Campaign.next_run_at <= now,
            Campaign.deleted_at.is_(None),
        )
        .values(next_run_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return bool(await changed_rows(db, statement))


async def claim_run(db: Database, worker: str, now: datetime, lease: timedelta) -> int | None:
    """Lease one run that has recipients left to queue; None when there is none."""
    free = or_(CampaignRun.locked_until.is_(None), CampaignRun.locked_until < now)
    pick = (
        select(CampaignRun.id)
        .where(CampaignRun.status == RunStatus.QUEUEING, free)
        .order_by(CampaignRun.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(CampaignRun)
        .where(CampaignRun.id == pick)
        .values(locked_by=worker, locked_until=now + lease)
        .returning(CampaignRun.id)
        .execution_options(synchronize_session=False)
    )
    return await db.write(lambda conn: conn.execute(statement).scalar())


async def release_run(
    db: Database, run_id: int, worker: str, until: datetime | None = None
) -> None:
    """Let a leased run go: at once, or not before `until` (its account may send no more for
    now)."""
    statement = (
        update(CampaignRun)
        .where(CampaignRun.id == run_id, CampaignRun.locked_by == worker)
        .values(locked_by=None, locked_until=until)
        .execution_options(synchronize_session=False)
    )
    await db.write(lambda conn: conn.execute(statement))


async def fail_campaign(db: Database, campaign_id: int, reason: str) -> None:
    """A run that cannot start (no content, a From the account may not use): Failed, with why."""
    statement = (
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(STARTABLE))
        .values(status=CampaignStatus.FAILED, last_error=reason[:500], next_run_at=None)
        .execution_options(synchronize_session=False)
    )
    await db.write(lambda conn: conn.execute(statement))


@dataclass(frozen=True)
class Schedulable:
    """What the scheduler reads of a campaign it starts or finishes."""

    id: int
    user_id: int
    audience: dict[str, Any]
    schedule_type: ScheduleType
    recurrence: dict[str, Any]
    time_zone: str
    instances: int


async def schedulable(db: Database, campaign_id: int) -> Schedulable | None:
    row = await db.first(
        select(
            Campaign.id,
            Campaign.user_id,
            Campaign.audience,
            Campaign.schedule_type,
            Campaign.recurrence,
            Campaign.time_zone,
            Campaign.instances,
        ).where(Campaign.id == campaign_id)
    )
    return None if row is None else Schedulable(*row)


async def discard_message(db: Database, message_id: uuid.UUID) -> None:
    """The message of a run that did not start (it has no deliveries yet)."""
    statement = delete(Message).where(Message.id == message_id)
    await db.write(lambda conn: conn.execute(statement))


async def run_sender_domain(db: Database, run_id: int) -> int | None:
    """The sender domain of a run's message: whose sending limits its batches count against."""
    statement = (
        select(Message.sender_domain_id)
        .join(CampaignRun, CampaignRun.message_id == Message.id)
        .where(CampaignRun.id == run_id)
    )
    return await db.scalar(statement)
