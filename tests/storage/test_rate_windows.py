"""The shared counters of the /api/v1 rate limit, on SQLite and PostgreSQL: hits added by
several nodes at once sum up, totals read back per window, old windows purged."""

from __future__ import annotations

import asyncio
import hashlib

from storage.engine import Database
from storage.rate_windows import CHUNK, add_hits, purge_windows, window_totals

WINDOW = 1_700_000_000 - 1_700_000_000 % 60


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


ALICE, BOB = digest("alice-key"), digest("bob-key")


async def test_hits_add_up_per_key_and_window(db: Database) -> None:
    assert await db.write(lambda c: add_hits(c, WINDOW, {ALICE: 3, BOB: 1})) == {ALICE: 3, BOB: 1}
    assert await db.write(lambda c: add_hits(c, WINDOW, {ALICE: 2})) == {ALICE: 5}
    assert await db.write(lambda c: add_hits(c, WINDOW + 60, {ALICE: 1})) == {ALICE: 1}
    assert await db.write(lambda c: window_totals(c, WINDOW, [ALICE, BOB, digest("x")])) == {
        ALICE: 5,
        BOB: 1,
    }
    assert await db.write(lambda c: window_totals(c, WINDOW + 60, [ALICE, BOB])) == {ALICE: 1}


async def test_two_nodes_adding_at_once_lose_no_hit(db: Database) -> None:
    """Two Database objects on one store are two nodes: each has its own writer (and, on
    SQLite, takes the shared file lock); the upsert adds, it never overwrites."""
    other = Database(db.url)
    try:
        keys = {ALICE: 1, BOB: 2}
        adds = [node.write(lambda c: add_hits(c, WINDOW, keys)) for node in (db, other) * 20]
        answers = await asyncio.gather(*adds)
    finally:
        await other.dispose()
    assert sorted(answer[ALICE] for answer in answers) == list(range(1, 41))
    assert await db.write(lambda c: window_totals(c, WINDOW, [ALICE, BOB])) == {
        ALICE: 40,
        BOB: 80,
    }


async def test_more_keys_than_one_statement_holds(db: Database) -> None:
    many = {digest(f"key-{n}"): n % 7 + 1 for n in range(CHUNK * 2 + 3)}
    assert await db.write(lambda c: add_hits(c, WINDOW, many)) == many
    assert await db.write(lambda c: window_totals(c, WINDOW, list(many))) == many


async def test_purge_deletes_only_the_windows_before(db: Database) -> None:
    for start in (WINDOW - 120, WINDOW - 60, WINDOW):
        await db.write(lambda c, start=start: add_hits(c, start, {ALICE: 1, BOB: 1}))
    assert await db.write(lambda c: purge_windows(c, before=WINDOW - 60)) == 2
    assert await db.write(lambda c: purge_windows(c, before=WINDOW - 60)) == 0
    for start, expected in ((WINDOW - 120, {}), (WINDOW - 60, {ALICE: 1}), (WINDOW, {ALICE: 1})):
        assert await db.write(lambda c, start=start: window_totals(c, start, [ALICE])) == expected
