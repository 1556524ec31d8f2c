"""Campaign reports on SQLite and PostgreSQL: totals folded per delivery, ten-minute periods
counted in SQL, the list of sent campaigns a page at a time, and a subscriber's history; from
runs, deliveries and events written as the sending path writes them."""

from __future__ import annotations

from storage.accounts import create_user
from storage.campaigns.reports import (
    campaign_statistics,
    campaigns_list,
    reported_campaign,
    subscriber_history,
    time_details,
)
from storage.engine import Database
from storage.models import Campaign, CampaignStatus
from tests.storage.campaign_support import T0, D, Run, at, new_campaign, sent_campaign


async def users(db: Database) -> tuple[int, int]:
    owner = await create_user(db, "owner@reports.test")
    other = await create_user(db, "other@reports.test")
    return owner.user_id, other.user_id


async def test_statistics_fold_events_per_delivery(db: Database) -> None:
    campaign_id, _, _ = await sent_campaign(db, *await users(db))
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
    owner, _ = await users(db)
    stats = await campaign_statistics(db, await new_campaign(db, owner, "Draft"))
    assert stats["subscribers"] == stats["delivered"] == stats["runs"] == 0
    assert stats["first_queued_at"] is None and stats["emails_per_second"] == 0.0
    assert await time_details(db, await new_campaign(db, owner, "Other draft")) == []


async def test_time_details_count_ten_minute_periods_in_sql(db: Database) -> None:
    campaign_id, _, _ = await sent_campaign(db, *await users(db))
    assert await time_details(db, campaign_id) == [
        {"time": "2030-01-02 10:00", "opened": 1, "unique_opened": 1, "clicked": 2,
         "unique_clicked": 2},
        {"time": "2030-01-02 10:10", "opened": 3, "unique_opened": 2, "clicked": 0,
         "unique_clicked": 0},
    ]  # fmt: skip


async def test_campaigns_list_pages_the_sent_campaigns_newest_first(db: Database) -> None:
    owner, other = await users(db)
    campaign_id, _, _ = await sent_campaign(db, owner, other)
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
    assert await reported_campaign(db, other, hash_) is None
    deleted_hash = await db.scalar(Campaign.__table__.select().with_only_columns(
        Campaign.hash).where(Campaign.id == deleted))  # fmt: skip
    assert await reported_campaign(db, owner, deleted_hash) is None


async def test_subscriber_history_lists_the_accounts_campaign_mail(db: Database) -> None:
    owner, other = await users(db)
    await sent_campaign(db, owner, other)
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
