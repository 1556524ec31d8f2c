"""The campaign scheduler against a real database (SQLite and PostgreSQL), driven by a clock
the test sets: Future and Recursive schedules start runs at their instants (time zones and
daylight-saving changes included) and not a second before, a recurring campaign comes back
until its maximum of instances, and two schedulers never start one campaign twice."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from mta.campaigns.scheduler import CampaignScheduler, SchedulerOptions
from mta.submission.submit import Gateway
from storage.accounts import create_user
from storage.campaigns import (
    CampaignUpdate,
    ScheduleInput,
    create_campaign,
    update_campaign,
)
from storage.domains import add_domain, set_domain_status
from storage.engine import Database
from storage.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    DomainStatus,
    Message,
    Subscriber,
    SubscriberList,
    SubscriberState,
    User,
)
from storage.queue import QueueWriter
from tests.storage.support import queue_message

DOMAIN = "letters.test"
PEOPLE = 25


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    db: Database
    gw: Gateway
    user_id: int
    list_id: int
    clock: Clock

    def scheduler(self) -> CampaignScheduler:
        return CampaignScheduler(self.gw, SchedulerOptions(batch=10), clock=self.clock)

    async def campaign(self, schedule: ScheduleInput) -> int:
        made = await create_campaign(self.db, self.user_id, "Letters")
        change = CampaignUpdate(
            status=CampaignStatus.READY,
            content={
                "subject": "Hello $$email$$",
                "from_email": f"news@{DOMAIN}",
                "from_name": "News",
                "text": "Dear reader.",
            },
            schedule=schedule,
            targets=[str(self.list_id)],
        )
        updated = await update_campaign(self.db, self.user_id, made.id, change, self.clock())
        assert updated is not None
        return made.id

    async def at(self, moment: datetime) -> None:
        """Set the clock and let the scheduler work until it has nothing left to do."""
        self.clock.now = moment
        scheduler = self.scheduler()
        while await scheduler.tick():
            pass

    async def runs(self, campaign_id: int) -> int:
        statement = select(func.count()).where(CampaignRun.campaign_id == campaign_id)
        return int(await self.db.scalar(statement))

    async def campaign_row(self, campaign_id: int) -> tuple[CampaignStatus, datetime | None]:
        row = await self.db.first(
            select(Campaign.status, Campaign.next_run_at).where(Campaign.id == campaign_id)
        )
        assert row is not None
        return row[0], row[1]

    async def queued(self, campaign_id: int) -> int:
        statement = (
            select(func.count())
            .select_from(Delivery)
            .join(Message, Message.id == Delivery.message_id)
            .where(Message.campaign_id == campaign_id)
        )
        return int(await self.db.scalar(statement))

    async def deliver_all(self, campaign_id: int) -> None:
        """What a delivery worker does to a run's recipients, all accepted."""
        messages = select(Message.id).where(Message.campaign_id == campaign_id)
        statement = (
            update(Delivery)
            .where(Delivery.message_id.in_(messages))
            .values(status=DeliveryStatus.DELIVERED)
        )
        await self.db.write(lambda conn: conn.execute(statement))


@pytest.fixture
async def world(db: Database) -> AsyncIterator[World]:
    user = await create_user(db, f"owner-{secrets.token_hex(4)}@{DOMAIN}")
    domain = await add_domain(db, user.user_id, DOMAIN, "bounces")
    await set_domain_status(db, domain.id, DomainStatus.ENABLED)
    list_id = await db.write(
        lambda conn: conn.execute(
            insert(SubscriberList)
            .values(user_id=user.user_id, hash=secrets.token_hex(5), name="letters")
            .returning(SubscriberList.id)
        ).scalar_one()
    )
    rows = [
        {"list_id": list_id, "email": f"r{n}@dest.test", "state": SubscriberState.ACTIVE,
         "custom_fields": {}}
        for n in range(PEOPLE)
    ]  # fmt: skip
    await db.write(lambda conn: conn.execute(insert(Subscriber), rows))
    writer = QueueWriter(db)
    writer.start()
    clock = Clock(datetime(2027, 3, 20, 12, 0, tzinfo=UTC))
    try:
        yield World(db, Gateway(db, writer, "mx.mailgate.test", 30), user.user_id, list_id, clock)
    finally:
        await writer.close()


async def test_a_future_campaign_starts_at_its_local_instant_and_not_before(
    world: World,
) -> None:
    # 2:30 on 28 March 2027 does not exist in Warsaw (clocks go 2:00 -> 3:00): 3:30 CEST.
    campaign_id = await world.campaign(
        ScheduleInput("Future", "2027-03-28", "02:30", "Europe/Warsaw")
    )
    instant = datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert await world.campaign_row(campaign_id) == (CampaignStatus.SCHEDULED, instant)

    await world.at(instant - timedelta(seconds=1))
    assert await world.runs(campaign_id) == 0
    await world.at(instant)
    assert await world.runs(campaign_id) == 1
    assert await world.queued(campaign_id) == PEOPLE  # in batches of 10
    assert (await world.campaign_row(campaign_id))[0] is CampaignStatus.SENDING

    await world.deliver_all(campaign_id)
    await world.at(instant + timedelta(minutes=1))
    assert await world.campaign_row(campaign_id) == (CampaignStatus.SENT, None)


async def test_an_ambiguous_local_time_fires_once_at_its_first_occurrence(world: World) -> None:
    # 1:30 on 7 November 2027 happens twice in New York; the first is EDT (UTC-4).
    campaign_id = await world.campaign(
        ScheduleInput("Future", "2027-11-07", "01:30", "America/New_York")
    )
    first = datetime(2027, 11, 7, 5, 30, tzinfo=UTC)
    await world.at(first - timedelta(seconds=1))
    assert await world.runs(campaign_id) == 0
    await world.at(first)
    await world.deliver_all(campaign_id)
    await world.at(first + timedelta(hours=1))  # the second 1:30 (EST) starts nothing
    assert await world.runs(campaign_id) == 1
    assert (await world.campaign_row(campaign_id))[0] is CampaignStatus.SENT


async def test_a_recurring_campaign_runs_each_instant_until_its_maximum(world: World) -> None:
    """Mondays at 9:00 in Warsaw, twice: across the change to summer time on 28 March."""
    mondays = ScheduleInput(
        "Recursive", time_zone="Europe/Warsaw", days_of_week="1", days_of_month="",
        months="1,2,3,4,5,6,7,8,9,10,11,12", hours="9", minutes="0", max_instances="2",
    )  # fmt: skip
    campaign_id = await world.campaign(mondays)
    monday = datetime(2027, 3, 22, 8, 0, tzinfo=UTC)  # 9:00 CET
    next_monday = datetime(2027, 3, 29, 7, 0, tzinfo=UTC)  # 9:00 CEST
    assert await world.campaign_row(campaign_id) == (CampaignStatus.SCHEDULED, monday)

    await world.at(monday - timedelta(seconds=1))
    assert await world.runs(campaign_id) == 0
    await world.at(monday)
    assert await world.runs(campaign_id) == 1
    await world.deliver_all(campaign_id)
    await world.at(monday + timedelta(minutes=5))
    assert await world.campaign_row(campaign_id) == (CampaignStatus.SCHEDULED, next_monday)

    await world.at(next_monday - timedelta(seconds=1))
    assert await world.runs(campaign_id) == 1
    await world.at(next_monday)
    assert await world.runs(campaign_id) == 2
    assert await world.queued(campaign_id) == 2 * PEOPLE  # each instance to everyone
    await world.deliver_all(campaign_id)
    await world.at(next_monday + timedelta(minutes=5))
    assert await world.campaign_row(campaign_id) == (CampaignStatus.SENT, None)


async def test_two_schedulers_start_a_due_campaign_once(world: World) -> None:
    campaign_id = await world.campaign(ScheduleInput("Immediate"))
    first, second = world.scheduler(), world.scheduler()
    assert await first.start_due() + await second.start_due() == 1
    while await first.tick() or await second.tick():
        pass
    assert await world.runs(campaign_id) == 1
    assert await world.queued(campaign_id) == PEOPLE


async def test_a_campaign_queues_within_its_accounts_sending_limits(world: World) -> None:
    """An hourly limit of 10 (3 already sent): 7 are queued, the run waits, and goes on once
    the limit allows (a raised limit here; the hour passing in production)."""
    await world.db.write(
        lambda conn: conn.execute(
            update(User).where(User.id == world.user_id).values(send_limit_hourly=10)
        )
    )
    await queue_message(world.db, ["a@x.test", "b@x.test", "c@x.test"], user_id=world.user_id)
    campaign_id = await world.campaign(ScheduleInput("Immediate"))
    await world.at(world.clock.now)
    assert await world.queued(campaign_id) == 7
    assert (await world.campaign_row(campaign_id))[0] is CampaignStatus.SENDING
    await world.at(world.clock.now + timedelta(seconds=30))  # looked at again after a minute
    assert await world.queued(campaign_id) == 7

    await world.db.write(
        lambda conn: conn.execute(
            update(User).where(User.id == world.user_id).values(send_limit_hourly=1000)
        )
    )
    world.gw = Gateway(world.db, world.gw.writer, "mx.mailgate.test", 30)  # no cached limits
    await world.at(world.clock.now + timedelta(minutes=2))
    assert await world.queued(campaign_id) == PEOPLE
    sent_this_hour = await world.db.scalar(
        select(func.sum(Message.recipient_count)).where(Message.user_id == world.user_id)
    )
    assert sent_this_hour == 3 + PEOPLE  # campaign recipients count against the limits
