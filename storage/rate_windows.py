"""The shared counters of the /api/v1 rate limit: one row per key (its SHA-256, never the key)
and fixed window, added to by every node.

Each function runs inside a caller's transaction (`Database.write`), so on SQLite the writes
take the writer thread and its lock like every other write.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import bindparam, delete, select
from sqlalchemy.engine import Connection

from storage.dialects import dialect_insert
from storage.models import RateWindow

# Rows per statement: 3 parameters each stays far below SQLite's and asyncpg's limits.
CHUNK = 500

_TOTALS = select(RateWindow.key_hash, RateWindow.hits).where(
    RateWindow.window_start == bindparam("window_start"),
    RateWindow.key_hash.in_(bindparam("key_hashes", expanding=True)),
)
_PURGE = delete(RateWindow).where(RateWindow.window_start < bindparam("before"))


def add_hits(conn: Connection, window_start: int, hits: Mapping[str, int]) -> dict[str, int]:
    """Add `hits` (key hash -> count) to the window's rows, creating them as needed; returns
    each key's total afterwards, counting every node's hits.

    Keys go in sorted order, so two nodes adding the same keys at once lock the rows in the
    same order on PostgreSQL and cannot deadlock."""
    insert = dialect_insert(conn)
    keys = sorted(hits)
    totals: dict[str, int] = {}
    for first in range(0, len(keys), CHUNK):
        rows = [
            {"key_hash": key, "window_start": window_start, "hits": hits[key]}
            for key in keys[first : first + CHUNK]
        ]
        statement = insert(RateWindow).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=[RateWindow.key_hash, RateWindow.window_start],
            set_={"hits": RateWindow.hits + statement.excluded.hits},
        ).returning(RateWindow.key_hash, RateWindow.hits)
        totals.update({key: total for key, total in conn.execute(statement)})
    return totals


def window_totals(
    conn: Connection, window_start: int, key_hashes: Collection[str]
) -> dict[str, int]:
    """The window's total for each of `key_hashes` that has a row (keys without one: none yet)."""
    keys = sorted(key_hashes)
    totals: dict[str, int] = {}
    for first in range(0, len(keys), CHUNK):
        params = {"window_start": window_start, "key_hashes": keys[first : first + CHUNK]}
        totals.update({key: total for key, total in conn.execute(_TOTALS, params)})
    return totals


def purge_windows(conn: Connection, before: int) -> int:
    """Delete the rows of windows that started before `before`; returns how many went."""
    return conn.execute(_PURGE, {"before": before}).rowcount
