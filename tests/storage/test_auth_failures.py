"""Failed AUTH attempts per client address, in the shared database: counted in a window, locked
out at the limit, forgotten after; exact when processes (or nodes) record them at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from storage import auth_failures
from storage.engine import Database
from storage.models import AuthFailure

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


async def fail(db: Database, address: str, at: datetime, limit: int = 3) -> int:
    return await auth_failures.record_failure(db, address, at, WINDOW, limit, lockout=WINDOW)


async def test_failures_count_in_their_window_and_lock_at_the_limit(db: Database) -> None:
    assert await auth_failures.locked_until(db, "192.0.2.1") is None
    assert [await fail(db, "192.0.2.1", NOW + timedelta(seconds=i)) for i in range(2)] == [1, 2]
    assert await auth_failures.locked_until(db, "192.0.2.1") is None
    assert await fail(db, "192.0.2.1", NOW + timedelta(seconds=5)) == 3
    assert await auth_failures.locked_until(db, "192.0.2.1") == NOW + timedelta(seconds=5) + WINDOW
    assert await auth_failures.locked_until(db, "192.0.2.2") is None  # per address

    # A failure after the window (opened by the first failure) starts a new count.
    assert await fail(db, "2001:db8::1", NOW) == 1
    assert await fail(db, "2001:db8::1", NOW + WINDOW - timedelta(seconds=1)) == 2
    assert await fail(db, "2001:db8::1", NOW + WINDOW + timedelta(seconds=1)) == 1

    # An address longer than the column (no peer address is) is cut, not refused.
    overlong = "fe80::1%" + "x" * 100
    assert [await fail(db, overlong, NOW) for _ in range(2)] == [1, 2]


async def test_rows_are_forgotten_once_neither_window_nor_lock_runs(db: Database) -> None:
    for _ in range(3):
        await fail(db, "192.0.2.7", NOW)  # locked until NOW + WINDOW
    await fail(db, "192.0.2.8", NOW)
    await fail(db, "192.0.2.9", NOW + WINDOW + timedelta(seconds=1))  # prunes the others
    addresses = await db.rows(select(AuthFailure.client_address))
    assert [row.client_address for row in addresses] == ["192.0.2.9"]


async def test_concurrent_failures_from_two_processes_are_all_counted(db_url: str) -> None:
    """Two Database objects are two worker processes (or, on PostgreSQL, two nodes): their
    failures from one address add up exactly, and the lock is set once the limit is reached."""
    first, second = Database(db_url), Database(db_url)
    try:
        counts = await asyncio.gather(
            *(fail(db, "198.51.100.4", NOW, limit=30) for db in (first, second) for _ in range(20))
        )
        assert sorted(counts) == list(range(1, 41))
        assert await auth_failures.locked_until(second, "198.51.100.4") == NOW + WINDOW
        total = await first.scalar(select(func.sum(AuthFailure.failures)))
        assert total == 40
    finally:
        await first.dispose()
        await second.dispose()
