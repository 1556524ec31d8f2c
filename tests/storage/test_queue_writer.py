"""The group-commit queue writer: durable before it returns, grouped under load, isolating bad
messages."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from storage.engine import Database
from storage.models import Delivery, DeliveryStatus, Event, Message
from storage.queue import NewMessage, QueueWriteError, QueueWriter


def message(recipients: list[str], raw: bytes = b"Subject: x\r\n\r\nbody\r\n") -> NewMessage:
    return NewMessage(
        id=uuid.uuid4(), mail_from="a@example.com", recipients=recipients, raw=raw, source="smtp"
    )


async def count(db: Database, table: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(table)) or 0)


async def test_enqueue_commits_message_deliveries_and_events(db: Database) -> None:
    db = db
    writer = QueueWriter(db)
    writer.start()
    msg = message(["x@one.test", "Y@Two.Test"])
    await writer.enqueue(msg)
    rows = await db.rows(
        select(Delivery.recipient, Delivery.recipient_domain, Delivery.status)
        .where(Delivery.message_id == msg.id)
        .order_by(Delivery.recipient)
    )
    raw = await db.scalar(select(Message.raw).where(Message.id == msg.id))
    await writer.close()
    assert [tuple(r) for r in rows] == [
        ("Y@Two.Test", "two.test", DeliveryStatus.QUEUED),
        ("x@one.test", "one.test", DeliveryStatus.QUEUED),
    ]
    assert raw == msg.raw
    assert await count(db, Event) == 2


async def test_concurrent_messages_are_all_stored_once(db: Database) -> None:
    db = db
    writer = QueueWriter(db)
    writer.start()
    batch = [message([f"r{i}@example.org"]) for i in range(200)]
    await asyncio.gather(*(writer.enqueue(m) for m in batch))
    await writer.close()
    assert await count(db, Message) == 200
    assert await count(db, Delivery) == 200


async def test_one_bad_message_does_not_fail_its_group(db: Database) -> None:
    db = db
    writer = QueueWriter(db)
    writer.start()
    good = [message(["a@example.org"]) for _ in range(5)]
    duplicate = message(["b@example.org"])
    await writer.enqueue(duplicate)
    results = await asyncio.gather(
        *(writer.enqueue(m) for m in [*good, duplicate]), return_exceptions=True
    )
    await writer.close()
    assert results[:5] == [None] * 5
    assert isinstance(results[5], QueueWriteError)
    assert await count(db, Message) == 6
