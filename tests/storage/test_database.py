"""The Database's ways in: `rows` for small indexed reads, `read`/`scan` for reads that may scan
many rows (off the event loop on SQLite), `write` for transactions."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import Connection, func, insert, select

from storage.engine import Database, changed_rows, is_sqlite
from storage.models import Suppression, SuppressionScope


async def test_scan_and_read_see_what_write_committed(db: Database) -> None:
    rows = [
        {
            "scope": SuppressionScope.GLOBAL,
            "address": f"a{n}@example.test",
            "reason": "manual",
            "source": "test",
        }
        for n in range(5)
    ]
    await db.write(lambda conn: conn.execute(insert(Suppression), rows))
    emails = await db.scan(select(Suppression.address).order_by(Suppression.address))
    assert [row.address for row in emails] == [f"a{n}@example.test" for n in range(5)]

    def count_and_first(conn: Connection) -> tuple[int, str]:
        count = conn.scalar(select(func.count()).select_from(Suppression))
        first = conn.scalar(select(Suppression.address).order_by(Suppression.address).limit(1))
        return int(count or 0), str(first)

    assert await db.read(count_and_first) == (5, "a0@example.test")
    changed = await changed_rows(db, Suppression.__table__.delete())
    assert changed == 5 and await db.scan(select(Suppression.address)) == []


async def test_a_long_read_on_sqlite_leaves_the_event_loop_serving(db: Database) -> None:
    """The read waits for something only the event loop can do: were it run on the loop's
    thread, as `rows` is, it could never finish."""
    if not is_sqlite(db.url):
        pytest.skip("on PostgreSQL reads are awaited on the loop's own connection pool")
    loop_ran = threading.Event()

    def wait_for_the_loop(conn: Connection) -> str:
        assert loop_ran.wait(timeout=10), "the event loop was blocked by the read"
        return threading.current_thread().name

    reading = asyncio.ensure_future(db.read(wait_for_the_loop))
    await asyncio.sleep(0)  # the loop runs this task while the read waits in its thread
    loop_ran.set()
    assert (await reading).startswith("sqlite-reader")
