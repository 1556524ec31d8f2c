"""Campaign runs in storage, on SQLite and PostgreSQL: recipients queued in set-based batches
(inactive, suppressed, excluded and duplicate addresses counted, never queued twice, even when a
batch runs again), pause, resume and cancel of a campaign's deliveries, and the end of a run."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url

from storage.accounts import create_user
from storage.campaigns.audience import run_plan
from storage.campaigns.runs import (
    BatchResult,
    cancel_campaign,
    complete_campaign,
    finish_runs,
    pause_campaign,
    queue_batch,
    resume_campaign,
    start_run,
)
from storage.engine import Database, is_sqlite
from storage.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Event,
    ListField,
    RunStatus,
    Segment,
    SenderDomain,
    Subscriber,
    Suppression,
    SuppressionScope,
)
from storage.outbound import claim_due
from tests.conftest import async_wait_until
from tests.storage.support import insert_list, queue_message


@dataclass
class Account:
    user: int
    domain: int
    lists: list[int]


async def account(db: Database, email: str = "owner@runs.test", lists: int = 2) -> Account:
    user = (await create_user(db, email)).user_id
    domain = SenderDomain.__table__.insert().values(
        user_id=user,
        name=email.split("@")[1],
        dkim_selector="s",
        dkim_private_key="-",
        webhook_signing_key="-",
    )

    def work(conn: Any) -> int:
        return int(conn.execute(domain.returning(SenderDomain.id)).scalar_one())

    domain_id = await db.write(work)
    made = await db.write(
        lambda conn: [insert_list(conn, user, uuid.uuid4().hex[:16]) for _ in range(lists)]
    )
    return Account(user, domain_id, made)


async def subscribe(db: Database, list_id: int, emails: list[str], state: int = 1) -> None:
    rows = [
        {"list_id": list_id, "email": email, "state": state, "custom_fields": {}}
        for email in emails
    ]
    await db.write(lambda conn: conn.execute(insert(Subscriber), rows))


async def suppress(db: Database, address: str, scope: SuppressionScope, **owner: int) -> None:
    statement = insert(Suppression).values(
        address=address, scope=scope, reason="test", source="test", **owner
    )
    await db.write(lambda conn: conn.execute(statement))


async def campaign_run(db: Database, owner: Account, audience: dict[str, Any]) -> int:
    statement = (
        insert(Campaign)
        .values(
            user_id=owner.user,
            hash=uuid.uuid4().hex[:16],
            name="C",
            audience=audience,
            status=CampaignStatus.READY,
        )
        .returning(Campaign.id)
    )
    campaign_id = int(await db.write(lambda conn: conn.execute(statement).scalar_one()))
    message_id = await queue_message(
        db,
        [],
        user_id=owner.user,
        sender_domain_id=owner.domain,
        campaign_id=campaign_id,
        queue_deliveries=False,
    )
    plan = await run_plan(db, owner.user, audience)
    run_id = await start_run(db, campaign_id, message_id, plan)
    assert run_id is not None
    return run_id


async def run_row(db: Database, run_id: int) -> Any:
    return await db.first(select(CampaignRun.__table__).where(CampaignRun.id == run_id))


async def campaign_of(db: Database, run_id: int) -> Any:
    statement = select(Campaign.__table__).join(CampaignRun).where(CampaignRun.id == run_id)
    return await db.first(statement)


async def deliveries(db: Database, run_id: int) -> dict[str, Any]:
    run = await run_row(db, run_id)
    statement = select(Delivery.__table__).where(Delivery.message_id == run.message_id)
    return {row.recipient: row for row in await db.rows(statement)}


async def queue_all(db: Database, run_id: int, limit: int) -> tuple[BatchResult, int]:
    """Batches until the run is queued: their sums, and how many batches it took."""
    total = BatchResult(0, 0, 0, 0, False)
    batches = 0
    while not total.finished:
        got = await queue_batch(db, run_id, limit)
        batches += 1
        total = BatchResult(
            total.queued + got.queued,
            total.skipped_inactive + got.skipped_inactive,
            total.skipped_suppressed + got.skipped_suppressed,
            total.duplicates + got.duplicates,
            got.finished,
        )
    return total, batches


async def test_a_run_queues_the_active_unsuppressed_not_excluded_once(db: Database) -> None:
    owner = await account(db, lists=3)
    first, second, excluded = owner.lists
    other = await account(db, "other@elsewhere.test", lists=0)
    await subscribe(db, first, [f"a{n}@Example.ORG".lower() for n in range(10)])
    await subscribe(db, first, ["sleepy@example.org", "gone@example.org"], state=4)
    # (The API stores addresses in lower case; one stored otherwise keeps its spelling.)
    await subscribe(db, second, ["a1@example.org", "a2@example.org", "b@Mixed.Example"])
    await subscribe(db, excluded, ["a3@example.org"], state=4)  # excluded in any state
    await suppress(db, "a4@example.org", SuppressionScope.GLOBAL)
    await suppress(db, "a5@example.org", SuppressionScope.ACCOUNT, user_id=owner.user)
    await suppress(db, "a6@example.org", SuppressionScope.DOMAIN, sender_domain_id=owner.domain)
    await suppress(db, "a7@example.org", SuppressionScope.ACCOUNT, user_id=other.user)
    await suppress(db, "a8@example.org", SuppressionScope.DOMAIN, sender_domain_id=other.domain)
    await suppress(db, "sleepy@example.org", SuppressionScope.GLOBAL)  # counted as inactive
    audience = {
        "lists": [{"list_id": first}, {"list_id": second}],
        "exclude": [{"list_id": excluded}],
    }
    run_id = await campaign_run(db, owner, audience)
    campaign = await campaign_of(db, run_id)
    assert (campaign.status, campaign.instances) == (CampaignStatus.SENDING, 1)

    total, batches = await queue_all(db, run_id, limit=4)
    assert total == BatchResult(7, 2, 3, 2, True)
    assert batches == 5  # 12 of the first list in 4s (the last window is short), 3 of the second
    queued = await deliveries(db, run_id)
    expected = {f"a{n}@example.org" for n in (0, 1, 2, 7, 8, 9)} | {"b@Mixed.Example"}
    assert set(queued) == expected
    assert {row.recipient_domain for row in queued.values()} == {"example.org", "mixed.example"}
    assert {row.status for row in queued.values()} == {DeliveryStatus.QUEUED}
    ids = await db.rows(select(Subscriber.id, Subscriber.email).where(Subscriber.list_id == first))
    on_first = {email: subscriber for subscriber, email in ids}
    assert queued["a1@example.org"].subscriber_id == on_first["a1@example.org"]
    run = await run_row(db, run_id)
    assert (run.queued, run.skipped_inactive, run.skipped_suppressed, run.duplicates) == (
        7,
        2,
        3,
        2,
    )
    assert run.status is RunStatus.QUEUED and run.queued_at is not None
    events = await db.rows(
        select(Event.__table__).where(Event.message_id == run.message_id, Event.type == "queued")
    )
    assert sorted(e.recipient for e in events) == sorted(queued)
    assert {e.delivery_id for e in events} == {row.id for row in queued.values()}
    assert {(e.user_id, e.sender_domain_id) for e in events} == {(owner.user, owner.domain)}
    assert all(e.data == {"source": "campaign"} for e in events)
    assert await queue_batch(db, run_id) == BatchResult(0, 0, 0, 0, True)


async def test_segments_exclusions_and_rules_choose_within_a_list(db: Database) -> None:
    owner = await account(db, lists=1)
    [people] = owner.lists
    numbers = [{"n": str(n)} for n in range(10)] + [{"n": "x"}, {}]
    rows = [
        {"list_id": people, "email": f"p{n}@x.test", "state": 1, "custom_fields": fields}
        for n, fields in enumerate(numbers)
    ]
    await db.write(lambda conn: conn.execute(insert(Subscriber), rows))
    field = insert(ListField).values(list_id=people, hash="fieldn", name="N", tag="n", numeric=True)
    await db.write(lambda conn: conn.execute(field))

    def rule(field_id: str, operator: str, value: str) -> dict[str, str]:
        return {"type": "fields", "field_id": field_id, "operator": operator, "value": value}

    high = await segment(
        db,
        owner,
        people,
        "or",
        [rule("N", "greater", "6"), rule("EmailAddress", "starts-with", "p0@")],
    )
    nine = await segment(db, owner, people, "and", [rule("EmailAddress", "contains", "9@")])
    audience = {
        "lists": [{"list_id": people, "segment_id": high}],
        "exclude": [{"list_id": people, "segment_id": nine}],
    }
    run_id = await campaign_run(db, owner, audience)
    total, batches = await queue_all(db, run_id, limit=3)
    assert (total, batches) == (BatchResult(3, 0, 0, 0, True), 2)
    assert set(await deliveries(db, run_id)) == {"p0@x.test", "p7@x.test", "p8@x.test"}

    bundle = {"criteria": [{"list_id": people, "rules": [rule("n", "smaller", "2")]}]}
    run_id = await campaign_run(db, owner, {"rules": bundle, "lists": [{"list_id": people}]})
    assert (await queue_batch(db, run_id)).queued == 2
    assert set(await deliveries(db, run_id)) == {"p0@x.test", "p1@x.test"}


async def segment(
    db: Database, owner: Account, list_id: int, operator: str, rules: list[dict[str, str]]
) -> int:
    statement = (
        insert(Segment)
        .values(
            user_id=owner.user,
            list_id=list_id,
            hash=uuid.uuid4().hex[:16],
            name="S",
            rules={"operator": operator, "rules": rules},
        )
        .returning(Segment.id)
    )
    return int(await db.write(lambda conn: conn.execute(statement).scalar_one()))


async def test_a_batch_run_again_after_a_crash_queues_nobody_twice(db: Database) -> None:
    owner = await account(db, lists=1)
    await subscribe(db, owner.lists[0], [f"r{n}@crash.test" for n in range(6)])
    run_id = await campaign_run(db, owner, {"lists": [{"list_id": owner.lists[0]}]})
    assert await queue_batch(db, run_id, 4) == BatchResult(4, 0, 0, 0, False)
    # The batch committed, then the process died before it knew: it runs again from the same
    # cursor (as if the run's row had not moved).
    statement = update(CampaignRun).where(CampaignRun.id == run_id).values(cursor=0)
    await db.write(lambda conn: conn.execute(statement))
    assert await queue_batch(db, run_id, 4) == BatchResult(0, 0, 0, 4, False)
    assert await queue_batch(db, run_id, 4) == BatchResult(2, 0, 0, 0, True)
    assert len(await deliveries(db, run_id)) == 6
    run = await run_row(db, run_id)
    queued_events = select(func.count()).where(
        Event.message_id == run.message_id, Event.type == "queued"
    )
    assert await db.scalar(queued_events) == 6


async def test_pause_resume_and_cancel_move_the_runs_deliveries(db: Database) -> None:
    owner = await account(db, lists=1)
    await subscribe(db, owner.lists[0], [f"p{n}@pause.test" for n in range(10)])
    run_id = await campaign_run(db, owner, {"lists": [{"list_id": owner.lists[0]}]})
    campaign_id = (await campaign_of(db, run_id)).id
    assert (await queue_batch(db, run_id, 4)).queued == 4
    rows = await deliveries(db, run_id)
    now = datetime.now(UTC)
    await set_status(db, rows["p0@pause.test"].id, DeliveryStatus.DELIVERED)
    await set_status(db, rows["p1@pause.test"].id, DeliveryStatus.DEFERRED)

    assert await resume_campaign(db, campaign_id) is False  # not paused
    assert await pause_campaign(db, campaign_id) is True
    assert await pause_campaign(db, campaign_id) is False  # paused already
    assert (await campaign_of(db, run_id)).status is CampaignStatus.PAUSED
    assert (await run_row(db, run_id)).status is RunStatus.PAUSED
    assert await statuses(db, run_id) == {
        "p0@pause.test": DeliveryStatus.DELIVERED,
        "p1@pause.test": DeliveryStatus.HELD,
        "p2@pause.test": DeliveryStatus.HELD,
        "p3@pause.test": DeliveryStatus.HELD,
    }
    assert await claim_due(db, "w", 100, timedelta(minutes=1), now + timedelta(days=1)) == []
    assert await queue_batch(db, run_id, 4) == BatchResult(0, 0, 0, 0, False)

    assert await resume_campaign(db, campaign_id) is True
    assert (await campaign_of(db, run_id)).status is CampaignStatus.SENDING
    assert (await run_row(db, run_id)).status is RunStatus.QUEUEING
    assert set((await statuses(db, run_id)).values()) == {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.QUEUED,
    }
    claimed = await claim_due(db, "w", 100, timedelta(minutes=1))
    assert {c.recipient for c in claimed} == {f"p{n}@pause.test" for n in (1, 2, 3)}
    await db.write(
        lambda conn: conn.execute(update(Delivery).values(locked_by=None, locked_until=None))
    )
    assert (await queue_batch(db, run_id, 4)).queued == 4  # queueing goes on from its cursor

    assert await cancel_campaign(db, campaign_id) is True
    assert await cancel_campaign(db, campaign_id) is False
    campaign = await campaign_of(db, run_id)
    assert campaign.status is CampaignStatus.CANCELED
    run = await run_row(db, run_id)
    assert (run.status, run.canceled) == (RunStatus.CANCELED, 7)
    counted: dict[DeliveryStatus, int] = {}
    for status in (await statuses(db, run_id)).values():
        counted[status] = counted.get(status, 0) + 1
    assert counted == {DeliveryStatus.DELIVERED: 1, DeliveryStatus.CANCELED: 7}
    assert await queue_batch(db, run_id, 4) == BatchResult(0, 0, 0, 0, True)
    assert await claim_due(db, "w", 100, timedelta(minutes=1), now + timedelta(days=1)) == []


async def test_a_paused_queued_run_resumes_queued_and_a_held_one_cancels(db: Database) -> None:
    owner = await account(db, lists=1)
    await subscribe(db, owner.lists[0], ["a@held.test", "b@held.test"])
    run_id = await campaign_run(db, owner, {"lists": [{"list_id": owner.lists[0]}]})
    campaign_id = (await campaign_of(db, run_id)).id
    assert (await queue_batch(db, run_id, 10)).finished
    assert await pause_campaign(db, campaign_id)
    assert await resume_campaign(db, campaign_id)
    assert (await run_row(db, run_id)).status is RunStatus.QUEUED
    assert await pause_campaign(db, campaign_id)
    assert await cancel_campaign(db, campaign_id)
    assert set((await statuses(db, run_id)).values()) == {DeliveryStatus.CANCELED}
    assert (await run_row(db, run_id)).canceled == 2


async def test_runs_finish_when_no_recipient_is_left_to_send(db: Database) -> None:
    owner = await account(db, lists=1)
    await subscribe(db, owner.lists[0], ["a@done.test", "b@done.test"])
    run_id = await campaign_run(db, owner, {"lists": [{"list_id": owner.lists[0]}]})
    campaign_id = (await campaign_of(db, run_id)).id
    assert await finish_runs(db) == []  # still queueing
    assert (await queue_batch(db, run_id, 10)).finished
    assert await finish_runs(db) == []
    rows = await deliveries(db, run_id)
    await set_status(db, rows["a@done.test"].id, DeliveryStatus.DELIVERED)
    await set_status(db, rows["b@done.test"].id, DeliveryStatus.DEFERRED)
    assert await finish_runs(db) == []
    await set_status(db, rows["b@done.test"].id, DeliveryStatus.BOUNCED)
    assert await finish_runs(db) == [campaign_id]
    assert await finish_runs(db) == []
    run = await run_row(db, run_id)
    assert run.status is RunStatus.DONE and run.finished_at is not None

    later = datetime(2031, 1, 1, tzinfo=UTC)
    assert await complete_campaign(db, campaign_id, later) is True
    campaign = await campaign_of(db, run_id)
    assert (campaign.status, campaign.next_run_at) == (CampaignStatus.SCHEDULED, later)
    assert await complete_campaign(db, campaign_id, None) is False  # not Sending any more

    second = await start_run(db, campaign_id, run.message_id, run.plan)
    assert (await run_row(db, second)).instance == 2
    assert await complete_campaign(db, campaign_id, None) is True
    campaign = await campaign_of(db, run_id)
    assert campaign.status is CampaignStatus.SENT and campaign.finished_at is not None
    assert campaign.next_run_at is None
    # Only a Ready or Scheduled campaign starts a run (one canceled while its message was
    # built does not).
    assert await start_run(db, campaign_id, run.message_id, run.plan) is None


async def test_twenty_thousand_subscribers_queue_in_batches(db: Database) -> None:
    owner = await account(db, lists=2)
    big, small = owner.lists
    await subscribe(db, big, [f"s{n}@bulk.test" for n in range(20_000) if n % 10])
    await subscribe(db, big, [f"s{n}@bulk.test" for n in range(0, 20_000, 10)], state=3)
    await subscribe(db, small, [f"s{n}@bulk.test" for n in range(0, 2_000, 2)])
    for n in range(1, 20_000, 1_000):
        await suppress(db, f"s{n}@bulk.test", SuppressionScope.ACCOUNT, user_id=owner.user)
    run_id = await campaign_run(db, owner, {"lists": [{"list_id": big}, {"list_id": small}]})
    total, batches = await queue_all(db, run_id, limit=2_500)
    # 18,000 active on the big list, 20 of them suppressed; of the small list's 1,000, the 200
    # multiples of 10 are inactive on the big list only, so they are queued from the small one.
    assert total == BatchResult(17_980 + 200, 2_000, 20, 800, True)
    assert batches == 9 + 1  # the big list's last window is empty
    run = await run_row(db, run_id)
    assert (
        await db.scalar(select(func.count()).where(Delivery.message_id == run.message_id)) == 18_180
    )
    assert (
        await db.scalar(
            select(func.count()).where(Event.message_id == run.message_id, Event.type == "queued")
        )
        == 18_180
    )


async def set_status(db: Database, delivery_id: int, status: DeliveryStatus) -> None:
    statement = update(Delivery).where(Delivery.id == delivery_id).values(status=status)
    await db.write(lambda conn: conn.execute(statement))


async def statuses(db: Database, run_id: int) -> dict[str, DeliveryStatus]:
    return {recipient: row.status for recipient, row in (await deliveries(db, run_id)).items()}


async def test_cancel_waits_for_a_batch_in_flight_and_cancels_its_recipients(
    db: Database,
) -> None:
    """PostgreSQL: a batch holds its run's row until it commits; cancel waits for it, then
    cancels what the batch queued too."""
    if is_sqlite(db.url):
        pytest.skip("SQLite's writer is alone: there is no batch in flight")
    owner = await account(db, lists=1)
    await subscribe(db, owner.lists[0], ["a@flight.test"])
    run_id = await campaign_run(db, owner, {"lists": [{"list_id": owner.lists[0]}]})
    campaign_id = (await campaign_of(db, run_id)).id
    message_id = (await run_row(db, run_id)).message_id
    # The batch on a connection of its own (asyncpg's, as Database runs whole transactions
    # only), holding the run's row while cancel waits for it.
    batch = await asyncpg.connect(
        make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        async with batch.transaction():
            await batch.execute("SELECT id FROM campaign_runs WHERE id = $1 FOR UPDATE", run_id)
            await batch.execute(
                "INSERT INTO deliveries (message_id, recipient, recipient_domain, status, "
                "attempts, next_attempt_at, created_at) "
                "VALUES ($1, 'a@flight.test', 'flight.test', $2, 0, now(), now())",
                message_id,
                DeliveryStatus.QUEUED.value,
            )
            canceling = asyncio.create_task(cancel_campaign(db, campaign_id))
            await async_wait_until(lambda: lock_waiters(db))
    finally:
        await batch.close()
    assert await canceling is True
    assert await statuses(db, run_id) == {"a@flight.test": DeliveryStatus.CANCELED}
    assert (await run_row(db, run_id)).canceled == 1


async def lock_waiters(db: Database) -> int:
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return int(await db.scalar(waiting))
