"""Issue 16: the suppression list as operators and tenants manage it (storage/suppressions.py):
listing with each filter and paging, newest first; an account sees and removes its own entries
and its sender domains' only, never another account's nor a global one; an operator (no
account named) sees and removes any. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from storage import accounts, domains
from storage.engine import Database
from storage.models import Suppression, SuppressionScope
from storage.suppressions import (
    SuppressionFilter,
    add_suppression,
    list_suppressions,
    remove_suppression,
    suppression_reason,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


async def two_accounts(db: Database) -> tuple[int, int, int, int]:
    """An owner with a sender domain, another account with one, each with entries of every
    scope that can be theirs, and a global entry; returns (owner, owner's domain, other,
    other's domain)."""
    owner = (await accounts.create_user(db, "owner@listing.test")).user_id
    other = (await accounts.create_user(db, "other@listing.test")).user_id
    mine = (await domains.add_domain(db, owner, "mine.example", "bounces")).id
    theirs = (await domains.add_domain(db, other, "theirs.example", "bounces")).id
    entries = [
        ("Gone@X.test", "bad-mailbox", "dsn", owner, None),
        ("full@x.test", "soft bounces in a row", "dsn", owner, None),
        ("left@x.test", "unsubscribed", "unsubscribe", None, mine),
        ("shared@x.test", "bad-domain", "delivery", owner, None),
        ("shared@x.test", "bad-mailbox", "dsn", other, None),
        ("theirs@x.test", "unsubscribed", "unsubscribe", other, theirs),
        ("shared@x.test", "complaint", "operator", None, None),
    ]
    for address, reason, source, user_id, domain_id in entries:
        assert await add_suppression(db, address, reason, source, user_id, domain_id)
    # distinct times, in the order added: the listing's order is then known
    for number, (row_id,) in enumerate(
        await db.rows(select(Suppression.id).order_by(Suppression.id))
    ):
        moment = START + timedelta(seconds=number)
        await db.write(
            lambda conn, i=row_id, m=moment: conn.execute(
                update(Suppression).where(Suppression.id == i).values(created_at=m)
            )
        )
    return owner, mine, other, theirs


async def addresses(db: Database, selection: SuppressionFilter) -> tuple[int, list[str]]:
    total, rows = await list_suppressions(db, selection)
    return total, [row.address for row in rows]


async def test_an_account_lists_its_own_and_its_domains_entries_newest_first(db: Database) -> None:
    owner, mine, other, _ = await two_accounts(db)
    total, rows = await list_suppressions(db, SuppressionFilter(user_id=owner))
    assert total == 4
    assert [(r.address, r.scope, r.reason) for r in rows] == [
        ("shared@x.test", SuppressionScope.ACCOUNT, "bad-domain"),
        ("left@x.test", SuppressionScope.DOMAIN, "unsubscribed"),
        ("full@x.test", SuppressionScope.ACCOUNT, "soft bounces in a row"),
        ("gone@x.test", SuppressionScope.ACCOUNT, "bad-mailbox"),
    ]
    assert rows[1].sender_domain == "mine.example" and rows[1].sender_domain_id == mine
    assert rows[0].sender_domain is None and rows[0].user_id == owner
    assert rows[0].created_at.tzinfo is not None
    assert await addresses(db, SuppressionFilter(user_id=other)) == (
        2,
        ["theirs@x.test", "shared@x.test"],
    )


async def test_each_filter_and_the_operators_view(db: Database) -> None:
    owner, _, other, _ = await two_accounts(db)
    assert await addresses(db, SuppressionFilter(user_id=owner, address=" SHARED@x.test ")) == (
        1,
        ["shared@x.test"],
    )
    assert await addresses(db, SuppressionFilter(user_id=owner, reason="unsubscribed")) == (
        1,
        ["left@x.test"],
    )
    assert await addresses(db, SuppressionFilter(user_id=owner, reason="complaint")) == (0, [])
    # the operator sees every account's entries and the global one
    total, rows = await list_suppressions(db, SuppressionFilter(address="shared@x.test"))
    assert total == 3
    assert [(r.scope, r.user_id) for r in rows] == [
        (SuppressionScope.GLOBAL, None),
        (SuppressionScope.ACCOUNT, other),
        (SuppressionScope.ACCOUNT, owner),
    ]
    assert await addresses(db, SuppressionFilter(reason="unsubscribed")) == (
        2,
        ["theirs@x.test", "left@x.test"],
    )


async def test_paging_counts_every_match_and_shows_the_page(db: Database) -> None:
    owner, *_ = await two_accounts(db)
    assert await addresses(db, SuppressionFilter(user_id=owner, start=1, count=2)) == (
        4,
        ["left@x.test", "full@x.test"],
    )
    assert await addresses(db, SuppressionFilter(user_id=owner, start=3, count=2)) == (
        4,
        ["gone@x.test"],
    )
    assert await addresses(db, SuppressionFilter(user_id=owner, start=10)) == (4, [])
    assert await addresses(db, SuppressionFilter(start=2**62, count=1)) == (7, [])


async def test_an_account_removes_its_entries_only(db: Database) -> None:
    owner, mine, other, theirs = await two_accounts(db)
    # another account's entry, its domain's, and the global one are not the owner's to remove
    assert await remove_suppression(db, "theirs@x.test", owner) == 0
    assert await suppression_reason(db, "theirs@x.test", other, theirs) == "unsubscribed"
    assert await remove_suppression(db, "Shared@X.test ", owner) == 1
    assert await addresses(db, SuppressionFilter(address="shared@x.test")) == (
        2,
        ["shared@x.test", "shared@x.test"],
    )
    assert await suppression_reason(db, "shared@x.test", owner, mine) == "complaint"  # global
    # a domain entry of the account's goes, whatever made it
    assert await remove_suppression(db, "left@x.test", owner) == 1
    assert await suppression_reason(db, "left@x.test", owner, mine) is None
    assert await remove_suppression(db, "left@x.test", owner) == 0


async def test_an_operator_removes_every_entry_of_an_address(db: Database) -> None:
    owner, mine, other, theirs = await two_accounts(db)
    assert await remove_suppression(db, "shared@x.test") == 3
    for user_id, domain_id in ((owner, mine), (other, theirs)):
        assert await suppression_reason(db, "shared@x.test", user_id, domain_id) is None
    assert await remove_suppression(db, "nobody@x.test") == 0
    assert (await list_suppressions(db, SuppressionFilter()))[0] == 4
