"""Statistics queries on both backends: events counted by type and by message tag within a
period, other domains and periods left out."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.engine import Connection

from storage import accounts, domains
from storage.engine import Database
from storage.events import count_by_tag, count_by_type
from storage.models import Event, utcnow
from tests.storage.support import queue_message


async def queued(db: Database, domain_id: int, tags: list[str], recipients: int = 1) -> uuid.UUID:
    to = [f"r{n}@example.org" for n in range(recipients)]
    return await queue_message(db, to, sender_domain_id=domain_id, tags=tags)


async def test_counts_by_type_and_tag(db: Database) -> None:
    user = (await accounts.create_user(db, "owner@stats.test")).user_id
    mine = (await domains.add_domain(db, user, "stats.test", "bounces")).id
    other = (await domains.add_domain(db, user, "other.test", "bounces")).id
    spring = await queued(db, mine, ["spring", "news"], recipients=2)
    await queued(db, mine, ["news", "news"])  # a repeated tag counts once
    await queued(db, mine, [])
    await queued(db, other, ["spring"])

    def setup(conn: Connection) -> None:
        conn.execute(
            Event.__table__.insert(),
            [
                {"type": "delivered", "message_id": spring, "recipient": "r0@example.org",
                 "sender_domain_id": mine, "created_at": utcnow(), "data": {}},
                {"type": "delivered", "message_id": spring, "recipient": "r1@example.org",
                 "sender_domain_id": mine, "created_at": utcnow() - timedelta(days=40),
                 "data": {}},
            ],
        )  # fmt: skip

    await db.write(setup)

    since, until = utcnow() - timedelta(days=1), utcnow() + timedelta(seconds=5)
    assert await count_by_type(db, mine, since, until) == {"queued": 4, "delivered": 1}
    assert await count_by_tag(db, mine, since, until, ["queued", "delivered"]) == {
        "spring": {"queued": 2, "delivered": 1},
        "news": {"queued": 3, "delivered": 1},
    }
    earlier = await count_by_type(db, mine, utcnow() - timedelta(days=60), since)
    assert earlier == {"delivered": 1}
