"""Failed SMTP AUTH attempts per client address, kept in the database that every SMTP worker of
every node shares, so that the lockout holds at its limit whichever process or node a client's
connections land on.

A failure is rare and costs one write (an upsert, and the lock when it reaches the limit); the
check before each AUTH is one read by primary key. Rows are forgotten once neither their window
nor their lock runs any more (pruned as failures are written).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, or_, select, update
from sqlalchemy.engine import Connection

from storage.dialects import dialect_insert
from storage.engine import Database
from storage.models import ADDRESS_LENGTH, AuthFailure


def _key(address: str) -> str:
    return address[:ADDRESS_LENGTH]


_LOCKED_UNTIL = select(AuthFailure.locked_until).where(
    AuthFailure.client_address == bindparam("address")
)


async def locked_until(db: Database, address: str) -> datetime | None:
    """Until when `address` is refused (None: it is not, or never was, locked out)."""
    return await db.scalar(_LOCKED_UNTIL, {"address": _key(address)})


async def record_failure(
    db: Database, address: str, now: datetime, window: timedelta, limit: int, lockout: timedelta
) -> int:
    """Count a failure from `address` (a window of `window` starts with the first one, and a
    failure after it starts a new one); at `limit` failures in the window the address is
    locked out until `now + lockout`. Returns the failures in the window, this one included.
    Atomic across processes and nodes: one upsert in the transaction that locks."""

    def write(conn: Connection) -> int:
        count = _count_failure(conn, _key(address), now, now + window)
        if count >= limit:
            conn.execute(
                update(AuthFailure)
                .where(AuthFailure.client_address == _key(address))
                .values(locked_until=now + lockout)
            )
        _forget_expired(conn, now)
        return count

    return await db.write(write)


def _count_failure(conn: Connection, key: str, now: datetime, window_end: datetime) -> int:
    insert = dialect_insert(conn)(AuthFailure).values(
        client_address=key, failures=1, window_ends_at=window_end, locked_until=None
    )
    expired = AuthFailure.window_ends_at <= now
    upsert = insert.on_conflict_do_update(
        index_elements=[AuthFailure.client_address],
        set_={
            "failures": case((expired, 1), else_=AuthFailure.failures + 1),
            "window_ends_at": case(
                (expired, insert.excluded.window_ends_at), else_=AuthFailure.window_ends_at
            ),
        },
    ).returning(AuthFailure.failures)
    return int(conn.execute(upsert).scalar_one())


def _forget_expired(conn: Connection, now: datetime) -> None:
    conn.execute(
        delete(AuthFailure).where(
            AuthFailure.window_ends_at < now,
            or_(AuthFailure.locked_until.is_(None), AuthFailure.locked_until < now),
        )
    )
