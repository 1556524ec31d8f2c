"""Campaigns, their runs, deliveries and events written directly, as the sending path writes
them: what the report tests (storage and /rest) read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

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


async def sent_campaign(db: Database, owner: int, other: int) -> tuple[int, Run, Run]:
    """`owner`'s campaign "Spring" sent twice: the first run to five addresses with every kind
    of outcome, the second to one of them again; beside it a test send, and a campaign of
    `other` to one of the addresses."""
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
    elsewhere = await new_campaign(db, other, "Theirs", "", at(0))
    theirs = await Run.start(db, other, elsewhere, 1, T0, {"a@x.test": D.DELIVERED})
    await theirs.record(db, ("delivered", "a@x.test", 5, {}), ("opened", "a@x.test", 6, {}))
    return campaign_id, first, second
