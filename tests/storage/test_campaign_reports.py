"""Campaign reports on SQLite and PostgreSQL: totals folded per delivery, ten-minute periods
counted in SQL, the list of sent campaigns a page at a time, and a subscriber's history; from
runs, deliveries and events written as the sending path writes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from storage.accounts import create_user
from storage.campaign_reports import (
    campaign_statistics,
    campaigns_list,
    reported_campaign,
    subscriber_history,
    time_details,
)
from storage.engine import Database
from storage.event_log import record_events
from storage.models import (
    Campaign,
    CampaignEmail,
    CampaignRun,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    RunStatus,
)
from tests.storage.support import queue_message

T0 = datetime(2030, 1, 2, 10, 0, 0, 250_000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def new_campaign(
    db: Database, user_id: int, name: str, subject: str = "", sent_at: datetime | None = None
) -> int:
    def work(conn: Any) -> int:
        email_id = conn.execute(
            insert(CampaignEmail)
            .values(user_id=user_id, subject=subject)
            .returning(CampaignEmail.id)
        ).scalar_one()
        return conn.execute(
            insert(Campaign)
            .values(user_id=user_id, hash=uuid.uuid4().hex[:16], name=name, email_id=email_id,
                    status=CampaignStatus.SENT if sent_at else CampaignStatus.DRAFT,
                    sent_at=sent_at)
            .returning(Campaign.id)
        ).scalar_one()  # fmt: skip

    return await db.write(work)


class Run:
    """One run of a campaign: its message, a delivery per recipient and their `queued` events."""

    def __init__(self, user_id: int, campaign_id: int, message_id: uuid.UUID) -> None:
        self.user_id, self.campaign_id, self.message_id = user_id, campaign_id, message_id
        self.deliveries: dict[str, int] = {}

    @classmethod
    async def start(
        cls, db: Database, user_id: int, campaign_id: int, instance: int, started: datetime,
        recipients: dict[str, DeliveryStatus], **counters: int,
    ) -> Run:  # fmt: skip
        message_id = await queue_message(
            db, [], user_id=user_id, subject="Subject $$name$$", campaign_id=campaign_id,
            queue_deliveries=False,
        )  # fmt: skip
        run = cls(user_id, campaign_id, message_id)

        def work(conn: Any) -> None:
            conn.execute(
                insert(CampaignRun).values(
                    campaign_id=campaign_id, instance=instance, message_id=message_id,
                    status=RunStatus.QUEUED, started_at=started,
                    queued=len(recipients), **counters,
                )
            )  # fmt: skip
            for recipient, status in recipients.items():
                run.deliveries[recipient] = conn.execute(
                    insert(Delivery)
                    .values(message_id=message_id, recipient=recipient,
                            recipient_domain=recipient.rpartition("@")[2], status=status,
                            next_attempt_at=started, created_at=started)
                    .returning(Delivery.id)
                ).scalar_one()  # fmt: skip
            record_events(conn, [run.event("queued", r, started) for r in recipients])

        await db.write(work)
        return run

    def event(self, kind: str, recipient: str, when: datetime, **data: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "message_id": self.message_id,
            "delivery_id": self.deliveries.get(recipient),
            "recipient": recipient,
            "user_id": self.user_id,
            "created_at": when,
            "data": data,
        }

    async def record(self, db: Database, *events: tuple[str, str, float, dict[str, Any]]) -> None:
        rows = [self.event(kind, who, at(seconds), **data) for kind, who, seconds, data in events]
        await db.write(lambda conn: record_events(conn, rows))


HARD, SOFT = {"bounce_type": "hard"}, {"bounce_type": "soft"}
D = DeliveryStatus


async def sent_campaign(db: Database) -> tuple[int, int, Run, Run]:
    """A campaign sent twice: the first run to five addresses with every kind of outcome, the
    second to one of them again; beside it a test send and another account's campaign."""
    owner = (await create_user(db.engine, "owner@reports.test")).user_id
    campaign_id = await new_campaign(db, owner, "Spring", "Spring sale", at(0))
    first = await Run.start(
        db, owner, campaign_id, 1, T0,
        {"a@x.test": D.DELIVERED, "b@x.test": D.BOUNCED, "c@x.test": D.BOUNCED,
         "d@x.test": D.DEFERRED, "e@x.test": D.DELIVERED},
        skipped_inactive=2, skipped_suppressed=1, duplicates=1,
    )  # fmt: skip
    await first.record(
        db,
        ("delivered", "a@x.test", 60, {}),
        ("opened", "a@x.test", 120, {}),  # 10:02
        ("clicked", "a@x.test", 130, {}),
        ("opened", "a@x.test", 700, {}),  # 10:11
        ("opened", "a@x.test", 710, {}),
        ("delivered", "b@x.test", 30, {}),
        ("bounced", "b@x.test", 300, HARD),  # a DSN after the server had taken it
        ("bounced", "c@x.test", 90, SOFT),  # expired after temporary failures
        ("deferred", "d@x.test", 20, {}),
        ("delivered", "e@x.test", 120, {}),
        ("clicked", "e@x.test", 599.5, {}),  # 10:09:59.75: still the first period
        ("opened", "e@x.test", 610, {}),
        ("unsubscribed", "e@x.test", 620, {}),
        ("complained", "e@x.test", 630, {}),
    )
    second = await Run.start(db, owner, campaign_id, 2, at(3600), {"a@x.test": D.DELIVERED})
    await second.record(db, ("delivered", "a@x.test", 3660, {}))
    test_send = Run(
        owner, campaign_id, await queue_message(db, ["a@x.test"], campaign_id=campaign_id)
    )
    await test_send.record(db, ("delivered", "a@x.test", 10, {}), ("opened", "a@x.test", 20, {}))
    other = (await create_user(db.engine, "other@reports.test")).user_id
    elsewhere = await new_campaign(db, other, "Theirs", "", at(0))
    theirs = await Run.start(db, other, elsewhere, 1, T0, {"a@x.test": D.DELIVERED})
    await theirs.record(db, ("delivered", "a@x.test", 5, {}), ("opened", "a@x.test", 6, {}))
    return owner, campaign_id, first, second


async def test_statistics_fold_events_per_delivery(db: Database) -> None:
    _, campaign_id, _, _ = await sent_campaign(db)
    stats = await campaign_statistics(db, campaign_id)
    assert {key: stats[key] for key in (
        "subscribers", "delivered", "hard_bounce", "soft_bounce", "opened", "clicked",
        "unique_opened", "unique_clicked", "resigned", "complaints",
    )} == {
        "subscribers": 6, "delivered": 3, "hard_bounce": 1, "soft_bounce": 1, "opened": 4,
        "clicked": 2, "unique_opened": 2, "unique_clicked": 2, "resigned": 1, "complaints": 1,
    }  # fmt: skip
    assert stats["first_queued_at"] == T0
    assert stats["last_delivered_at"] == at(3660)
    assert stats["emails_per_second"] == round(3 / 3660, 2)
    assert {key: stats[key] for key in ("runs", "queued", "skipped_inactive",
                                        "skipped_suppressed", "duplicates", "canceled")} == {
        "runs": 2, "queued": 6, "skipped_inactive": 2, "skipped_suppressed": 1,
        "duplicates": 1, "canceled": 0,
    }  # fmt: skip
    assert (stats["first_run_at"], stats["last_run_at"]) == (T0, at(3600))


async def test_statistics_of_a_campaign_never_sent_are_zero(db: Database) -> None:
    owner = (await create_user(db.engine, "owner@reports.test")).user_id
    stats = await campaign_statistics(db, await new_campaign(db, owner, "Draft"))
    assert stats["subscribers"] == stats["delivered"] == stats["runs"] == 0
    assert stats["first_queued_at"] is None and stats["emails_per_second"] == 0.0
    assert await time_details(db, await new_campaign(db, owner, "Other draft")) == []


async def test_time_details_count_ten_minute_periods_in_sql(db: Database) -> None:
    _, campaign_id, _, _ = await sent_campaign(db)
    assert await time_details(db, campaign_id) == [
        {"time": "2030-01-02 10:00", "opened": 1, "unique_opened": 1, "clicked": 2,
         "unique_clicked": 2},
        {"time": "2030-01-02 10:10", "opened": 3, "unique_opened": 2, "clicked": 0,
         "unique_clicked": 0},
    ]  # fmt: skip


async def test_campaigns_list_pages_the_sent_campaigns_newest_first(db: Database) -> None:
    owner, campaign_id, _, _ = await sent_campaign(db)
    no_subject = await new_campaign(db, owner, "Plain", "", at(-60))
    for number in range(24):
        await new_campaign(db, owner, f"Old {number}", "Old", at(-7200 - number))
    await new_campaign(db, owner, "Draft")
    deleted = await new_campaign(db, owner, "Deleted", "", at(60))
    await db.write(
        lambda conn: conn.execute(
            Campaign.__table__.update()
            .where(Campaign.id == deleted)
            .values(deleted_at=at(120), status=CampaignStatus.SENT)
        )
    )
    first_page = await campaigns_list(db, owner, 1)
    assert len(first_page) == 25
    hash_ = await db.scalar(Campaign.__table__.select().with_only_columns(Campaign.hash).where(
        Campaign.id == campaign_id))  # fmt: skip
    assert first_page[0] == {
        "name": "Spring", "topic": "Spring sale", "subscribers": 6, "id_hash": hash_,
        "sent": at(0),
    }  # fmt: skip
    assert first_page[1]["name"] == "Plain" and first_page[1]["topic"] == "Plain"
    assert [row["name"] for row in first_page[2:4]] == ["Old 0", "Old 1"]
    assert [row["name"] for row in await campaigns_list(db, owner, 2)] == ["Old 23"]
    assert await campaigns_list(db, owner, 3) == []
    assert await reported_campaign(db, owner, hash_) == campaign_id
    no_subject_hash = first_page[1]["id_hash"]
    assert await reported_campaign(db, owner, no_subject_hash) == no_subject
    other = (await create_user(db.engine, "third@reports.test")).user_id
    assert await reported_campaign(db, other, hash_) is None
    deleted_hash = await db.scalar(Campaign.__table__.select().with_only_columns(
        Campaign.hash).where(Campaign.id == deleted))  # fmt: skip
    assert await reported_campaign(db, owner, deleted_hash) is None


async def test_subscriber_history_lists_the_accounts_campaign_mail(db: Database) -> None:
    owner, _, _, _ = await sent_campaign(db)
    later = await new_campaign(db, owner, "Summer", "Summer sale", at(7200))
    await Run.start(db, owner, later, 1, at(7200), {"a@x.test": D.CANCELED})  # never sent
    history = await subscriber_history(db, owner, "A@x.test", 10)
    assert [(h.name, h.subject, h.sent_at, h.state, h.opens, h.clicks) for h in history] == [
        ("Spring", "Subject $$name$$", at(3600), "DELIVERED", 0, 0),
        ("Spring", "Subject $$name$$", T0, "DELIVERED", 3, 1),
    ]
    assert len(await subscriber_history(db, owner, "a@x.test", 1)) == 1
    states = {
        address: [h.state for h in await subscriber_history(db, owner, address, 10)]
        for address in ("b@x.test", "c@x.test", "d@x.test", "e@x.test", "z@x.test")
    }
    assert states == {
        "b@x.test": ["HARD_BOUNCE"],
        "c@x.test": ["SOFT_BOUNCE"],
        "d@x.test": ["SENT"],
        "e@x.test": ["DELIVERED"],
        "z@x.test": [],
    }
