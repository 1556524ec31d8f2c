"""The suppression list: global, per-account and per-domain scopes, one row per entry, and no
account seeing another's entries."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from storage import accounts, domains
from storage.engine import Database
from storage.models import Suppression
from storage.suppressions import add_suppression, suppression_reason


async def owner_with_domain(db: Database, email: str, name: str) -> tuple[int, int]:
    user_id = (await accounts.create_user(db, email)).user_id
    return user_id, (await domains.add_domain(db, user_id, name, "bounces")).id


async def test_scopes_and_tenant_isolation(db: Database) -> None:
    alice, alice_domain = await owner_with_domain(db, "alice@a.example", "a.example")
    alice_second = (await domains.add_domain(db, alice, "a2.example", "bounces")).id
    bob, bob_domain = await owner_with_domain(db, "bob@b.example", "b.example")

    assert await add_suppression(db, "Hard@Example.org", "hard bounce", "bounce", user_id=alice)
    assert await add_suppression(
        db, "unsub@example.org", "unsubscribed", "link", sender_domain_id=alice_domain
    )
    assert await add_suppression(db, "spamtrap@example.org", "spam trap", "operator")

    async def reason(address: str, user: int, domain: int) -> str | None:
        return await suppression_reason(db, address, user, domain)

    assert await reason("hard@EXAMPLE.org", alice, alice_domain) == "hard bounce"
    assert await reason("hard@example.org", alice, alice_second) == "hard bounce"  # account-wide
    assert await reason("hard@example.org", bob, bob_domain) is None  # not Bob's
    assert await reason("unsub@example.org", alice, alice_domain) == "unsubscribed"
    assert await reason("unsub@example.org", alice, alice_second) is None  # that domain only
    assert await reason("unsub@example.org", bob, bob_domain) is None
    assert await reason("spamtrap@example.org", bob, bob_domain) == "spam trap"  # global
    assert await reason("friend@example.org", alice, alice_domain) is None
    assert await suppression_reason(db, "spamtrap@example.org", None, None) == "spam trap"
    assert await suppression_reason(db, "hard@example.org", None, None) is None


async def test_suppressing_twice_keeps_one_row(db: Database) -> None:
    alice, _ = await owner_with_domain(db, "alice@a.example", "a.example")
    assert await add_suppression(db, "x@example.org", "hard bounce", "bounce", user_id=alice)
    assert not await add_suppression(db, "X@Example.org ", "complaint", "fbl", user_id=alice)
    assert await add_suppression(db, "x@example.org", "spam trap", "operator")  # other scope
    assert not await add_suppression(db, "x@example.org", "spam trap", "operator")
    rows = await db.scalar(select(func.count()).select_from(Suppression))
    assert rows == 2


async def test_concurrent_adds_of_one_entry_keep_one_row(db: Database) -> None:
    """Two bounces for one address at once must not leave the entry listed twice, in any scope."""
    alice, alice_domain = await owner_with_domain(db, "alice@a.example", "a.example")
    scopes: list[dict[str, int]] = [{}, {"user_id": alice}, {"sender_domain_id": alice_domain}]
    for scope in scopes:
        added = await asyncio.gather(
            *(add_suppression(db, "x@example.org", "bounce", "test", **scope) for _ in range(8))
        )
        assert sorted(added) == [False] * 7 + [True], scope
    rows = await db.scalar(select(func.count()).select_from(Suppression))
    assert rows == len(scopes)
