"""Subscriber states follow the events recorded about their addresses (003's status codes), on
the lists of the event's account only, and the account's own blocks are the only suppressions
removeBlocks may take off."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import accounts, domains
from storage.engine import Database
from storage.event_log import record_events
from storage.feedback import AsyncBounce, record_bounces
from storage.models import Subscriber, SubscriberState, Suppression, utcnow
from storage.suppressions import block, suppress, unblock
from tests.storage.support import insert_list, queue_message

S = SubscriberState


async def lists_with(engine: AsyncEngine, user_id: int, hash_: str, states: dict[str, int]) -> int:
    async with engine.begin() as conn:
        list_id = await insert_list(conn, user_id, hash_)
        rows = [{"list_id": list_id, "email": e, "state": s} for e, s in states.items()]
        await conn.execute(insert(Subscriber), rows)
    return int(list_id)


async def states(engine: AsyncEngine, list_id: int) -> dict[str, int]:
    async with engine.connect() as conn:
        query = select(Subscriber.email, Subscriber.state).where(Subscriber.list_id == list_id)
        return {email: state for email, state in (await conn.execute(query)).all()}


def event(kind: str, user_id: int, recipient: str, **data: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "recipient": recipient,
        "user_id": user_id,
        "created_at": utcnow(),
        "data": data,
    }


async def test_events_move_the_accounts_subscribers(engine: AsyncEngine, db: Database) -> None:
    owner = (await accounts.create_user(engine, "owner@states.test")).user_id
    other = (await accounts.create_user(engine, "other@states.test")).user_id
    first = await lists_with(
        engine,
        owner,
        "ownerlist1",
        {
            "hard@x.test": S.ACTIVE,
            "gone@x.test": S.RESIGNED,
            "unsub@x.test": S.AWAITING_ACTIVATION,
            "fbl@x.test": S.ACTIVE,
            "soft@x.test": S.ACTIVE,
            "quiet@x.test": S.ACTIVE,
            "spam@x.test": S.ACTIVE,
        },
    )
    second = await lists_with(engine, owner, "ownerlist2", {"hard@x.test": S.SOFT_BOUNCE})
    theirs = await lists_with(engine, other, "otherlist1", {"hard@x.test": S.ACTIVE})

    batch = [
        event("bounced", owner, "Hard@X.test", bounce_type="hard", address_suppressed=True),
        event("bounced", owner, "gone@x.test", bounce_type="hard", address_suppressed=True),
        event("bounced", owner, "spam@x.test", bounce_type="hard", address_suppressed=False),
        event("bounced", owner, "soft@x.test", bounce_type="soft"),  # not suppressing: kept
        event("unsubscribed", owner, "unsub@x.test"),
        event("complained", owner, "fbl@x.test"),
        event("delivered", owner, "quiet@x.test"),
    ]
    await db.write(lambda conn: record_events(conn, batch))

    assert await states(engine, first) == {
        "hard@x.test": S.HARD_BOUNCE,
        "gone@x.test": S.RESIGNED,  # a resigned subscriber stays resigned
        "unsub@x.test": S.RESIGNED,
        "fbl@x.test": S.RESIGNED,
        "soft@x.test": S.ACTIVE,
        "quiet@x.test": S.ACTIVE,
        "spam@x.test": S.ACTIVE,  # a hard bounce of the message, not of the address
    }
    assert await states(engine, second) == {"hard@x.test": S.HARD_BOUNCE}
    assert await states(engine, theirs) == {"hard@x.test": S.ACTIVE}  # another account's list


async def test_soft_bounces_that_suppress_move_to_soft_bounce(
    engine: AsyncEngine, db: Database
) -> None:
    owner = (await accounts.create_user(engine, "soft@states.test")).user_id
    domain = (await domains.add_domain(engine, owner, "states.test", "bounces")).id
    list_id = await lists_with(engine, owner, "softlist01", {"full@x.test": S.ACTIVE})
    full = AsyncBounce("full@x.test", False, "mailbox-full", "4.2.2", "452 full", False, False)
    for sent in range(3):
        message = await queue_message(db, ["full@x.test"], user_id=owner, sender_domain_id=domain)
        recorded = await record_bounces(db, message, [full], soft_limit=3)
        expected = S.SOFT_BOUNCE if sent == 2 else S.ACTIVE
        assert await states(engine, list_id) == {"full@x.test": expected}
    assert recorded.suppressed == ["full@x.test"]


async def test_unblock_removes_only_the_accounts_own_blocks(
    engine: AsyncEngine, db: Database
) -> None:
    owner = (await accounts.create_user(engine, "blocks@states.test")).user_id
    other = (await accounts.create_user(engine, "others@states.test")).user_id
    await db.write(lambda conn: suppress(conn, "bounced@x.test", "bad-mailbox", "dsn", owner))
    assert await block(db, owner, ["mine@x.test", "Bounced@x.test", "mine@x.test"]) == 1
    assert await block(db, other, ["mine@x.test"]) == 1

    assert await unblock(db, owner, ["MINE@x.test", "bounced@x.test", "never@x.test"]) == 1
    async with engine.connect() as conn:
        query = select(Suppression.address, Suppression.user_id, Suppression.source)
        left = sorted(tuple(row) for row in (await conn.execute(query)).all())
    assert left == [("bounced@x.test", owner, "dsn"), ("mine@x.test", other, "api-block")]
