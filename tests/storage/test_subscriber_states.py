"""Subscriber states follow the events recorded about their addresses (003's status codes), on
the lists of the event's account only, and the account's own blocks are the only suppressions
removeBlocks may take off."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from storage import accounts, domains
from storage.engine import Database
from storage.event_log import record_events
from storage.feedback import AsyncBounce, record_bounces
from storage.models import Subscriber, SubscriberState, Suppression, utcnow
from storage.suppressions import block, suppress, unblock
from tests.storage.support import insert_list, queue_message

S = SubscriberState


async def lists_with(db: Database, user_id: int, hash_: str, states: dict[str, int]) -> int:

    def work(conn: Connection) -> int:
        list_id = insert_list(conn, user_id, hash_)
        rows = [{"list_id": list_id, "email": e, "state": s} for e, s in states.items()]
        conn.execute(insert(Subscriber), rows)
        return list_id

    return await db.write(work)


async def states(db: Database, list_id: int) -> dict[str, int]:
    query = select(Subscriber.email, Subscriber.state).where(Subscriber.list_id == list_id)
    return {email: state for email, state in (await db.rows(query))}


def event(kind: str, user_id: int, recipient: str, **data: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "recipient": recipient,
        "user_id": user_id,
        "created_at": utcnow(),
        "data": data,
    }


async def test_events_move_the_accounts_subscribers(db: Database) -> None:
    owner = (await accounts.create_user(db, "owner@states.test")).user_id
    other = (await accounts.create_user(db, "other@states.test")).user_id
    first = await lists_with(
        db,
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
    second = await lists_with(db, owner, "ownerlist2", {"hard@x.test": S.SOFT_BOUNCE})
    theirs = await lists_with(db, other, "otherlist1", {"hard@x.test": S.ACTIVE})

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

    assert await states(db, first) == {
        "hard@x.test": S.HARD_BOUNCE,
        "gone@x.test": S.RESIGNED,  # a resigned subscriber stays resigned
        "unsub@x.test": S.RESIGNED,
        "fbl@x.test": S.RESIGNED,
        "soft@x.test": S.ACTIVE,
        "quiet@x.test": S.ACTIVE,
        "spam@x.test": S.ACTIVE,  # a hard bounce of the message, not of the address
    }
    assert await states(db, second) == {"hard@x.test": S.HARD_BOUNCE}
    assert await states(db, theirs) == {"hard@x.test": S.ACTIVE}  # another account's list


async def test_soft_bounces_that_suppress_move_to_soft_bounce(db: Database) -> None:
    owner = (await accounts.create_user(db, "soft@states.test")).user_id
    domain = (await domains.add_domain(db, owner, "states.test", "bounces")).id
    list_id = await lists_with(db, owner, "softlist01", {"full@x.test": S.ACTIVE})
    full = AsyncBounce("full@x.test", False, "mailbox-full", "4.2.2", "452 full", False, False)
    for sent in range(3):
        message = await queue_message(db, ["full@x.test"], user_id=owner, sender_domain_id=domain)
        recorded = await record_bounces(db, message, [full], soft_limit=3)
        expected = S.SOFT_BOUNCE if sent == 2 else S.ACTIVE
        assert await states(db, list_id) == {"full@x.test": expected}
    assert recorded.suppressed == ["full@x.test"]


async def test_unblock_removes_only_the_accounts_own_blocks(db: Database) -> None:
    owner = (await accounts.create_user(db, "blocks@states.test")).user_id
    other = (await accounts.create_user(db, "others@states.test")).user_id
    await db.write(lambda conn: suppress(conn, "bounced@x.test", "bad-mailbox", "dsn", owner))
    assert await block(db, owner, ["mine@x.test", "Bounced@x.test", "mine@x.test"]) == 1
    assert await block(db, other, ["mine@x.test"]) == 1

    assert await unblock(db, owner, ["MINE@x.test", "bounced@x.test", "never@x.test"]) == 1
    query = select(Suppression.address, Suppression.user_id, Suppression.source)
    left = sorted(tuple(row) for row in (await db.rows(query)))
    assert left == [("bounced@x.test", owner, "dsn"), ("mine@x.test", other, "api-block")]
