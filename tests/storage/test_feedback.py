"""Asynchronous bounces and complaints, on both backends: matched to the message's recipient,
recorded as events, and suppressing the address (hard bounces and complaints at once, soft
bounces when several messages in a row bounced)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from storage import accounts, domains
from storage.engine import Database
from storage.feedback import AsyncBounce, record_bounces, record_complaint
from storage.models import Delivery, DeliveryStatus, Suppression
from tests.storage.support import queue_message

SOFT_LIMIT = 3


async def owner(db: Database) -> tuple[int, int]:
    user_id = (await accounts.create_user(db, "owner@feedback.test")).user_id
    return user_id, (await domains.add_domain(db, user_id, "feedback.test", "bounces")).id


async def sent(db: Database, user_id: int, domain_id: int, *recipients: str) -> uuid.UUID:
    return await queue_message(db, recipients, user_id=user_id, sender_domain_id=domain_id)


def bounce(address: str, hard: bool, category: str = "bad-mailbox") -> AsyncBounce:
    return AsyncBounce(
        address=address,
        hard=hard,
        category=category,
        enhanced_code="5.1.1" if hard else "4.2.2",
        diagnostic="550 5.1.1 no such user" if hard else "452 4.2.2 mailbox full",
        delayed=False,
        suppress=hard and category == "bad-mailbox",
    )


async def suppressed(db: Database) -> list[tuple[str, str]]:
    rows = await db.rows(select(Suppression.address, Suppression.reason))
    return sorted((row.address, row.reason) for row in rows)


async def test_a_hard_bounce_suppresses_the_matched_recipient(db: Database) -> None:
    user_id, domain_id = await owner(db)
    message_id = await sent(db, user_id, domain_id, "A@example.org", "b@example.org")
    recorded = await record_bounces(
        db, message_id, [bounce("a@EXAMPLE.org", hard=True)], SOFT_LIMIT
    )
    assert recorded.events == [("bounced", "a@example.org")]
    assert recorded.suppressed == ["a@example.org"]
    assert await suppressed(db) == [("a@example.org", "bad-mailbox")]
    states = dict(await db.rows(select(Delivery.recipient, Delivery.status)))
    assert states == {"A@example.org": DeliveryStatus.BOUNCED, "b@example.org": "queued"}


async def test_an_unknown_address_matches_only_a_lone_recipient(db: Database) -> None:
    user_id, domain_id = await owner(db)
    two = await sent(db, user_id, domain_id, "a@example.org", "b@example.org")
    one = await sent(db, user_id, domain_id, "c@example.org")
    forwarded = [bounce("c.forwarded@elsewhere.example", hard=True)]
    assert (await record_bounces(db, two, forwarded, SOFT_LIMIT)).events == []
    assert (await record_bounces(db, one, forwarded, SOFT_LIMIT)).events == [
        ("bounced", "c@example.org")
    ]
    assert (await record_bounces(db, uuid.uuid4(), forwarded, SOFT_LIMIT)).events == []


async def test_the_delivery_named_by_the_verp_address_wins(db: Database) -> None:
    user_id, domain_id = await owner(db)
    message_id = await sent(db, user_id, domain_id, "a@example.org", "b@example.org")
    ids = dict(await db.rows(select(Delivery.recipient, Delivery.id)))
    forwarded = [bounce("b.forwarded@elsewhere.example", hard=True)]
    recorded = await record_bounces(db, message_id, forwarded, SOFT_LIMIT, ids["b@example.org"])
    assert recorded.events == [("bounced", "b@example.org")]


async def test_soft_bounces_suppress_only_when_several_messages_in_a_row_bounced(
    db: Database,
) -> None:
    user_id, domain_id = await owner(db)
    address = "full@example.org"
    for round_number in range(1, SOFT_LIMIT + 1):
        message_id = await sent(db, user_id, domain_id, address)
        recorded = await record_bounces(
            db, message_id, [bounce(address, hard=False, category="quota-issues")], SOFT_LIMIT
        )
        assert recorded.suppressed == ([address] if round_number == SOFT_LIMIT else [])
    assert await suppressed(db) == [(address, "soft bounces in a row")]


async def test_a_delivered_message_breaks_the_row(db: Database) -> None:
    user_id, domain_id = await owner(db)
    address = "full@example.org"
    for index in range(SOFT_LIMIT):
        message_id = await sent(db, user_id, domain_id, address)
        if index != 1:  # the middle message did not bounce
            await record_bounces(
                db, message_id, [bounce(address, hard=False, category="quota-issues")], SOFT_LIMIT
            )
    assert await suppressed(db) == []


async def test_a_complaint_suppresses(db: Database) -> None:
    user_id, domain_id = await owner(db)
    message_id = await sent(db, user_id, domain_id, "kate@example.org")
    recorded = await record_complaint(db, message_id, "Kate@example.org", "abuse", "Yahoo")
    assert recorded.events == [("complained", "kate@example.org")]
    assert await suppressed(db) == [("kate@example.org", "complaint")]
