"""Engine setup: one async engine per process, with SQLite tuned for durability."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Executable

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# A read on the event loop thread must never wait long for a lock (WAL readers normally don't).
SQLITE_READ_BUSY_TIMEOUT_MS = 1_000


def sqlite_pragmas(dbapi_connection: Any, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    """WAL for concurrent readers; FULL sync so an acknowledged message survives power loss."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An AsyncEngine for `sqlite+aiosqlite://` or `postgresql+asyncpg://` URLs."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", lambda conn, _: sqlite_pragmas(conn))
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """The async engine, plus one fast path for the small indexed reads of the SMTP hot path.

    Through aiosqlite every query is a round trip to a worker thread, about 0.3-0.5 ms of CPU for
    a one-row lookup. On SQLite, hot-path reads therefore run synchronously on a held
    connection in the caller's thread (about 0.03 ms): WAL readers never wait for the writer, so
    the event loop is not blocked. PostgreSQL reads go through the async engine as usual.
    Writes always go through `engine`.
    """

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_options)
        self._sync_engine: sqlalchemy.Engine | None = None
        self._sync_conn: Connection | None = None
        self._lock_file: int | None = None
        if is_sqlite(url):
            sync_url = make_url(url).set(drivername="sqlite")
            self._sync_engine = sqlalchemy.create_engine(sync_url, poolclass=sqlalchemy.NullPool)
            event.listen(
                self._sync_engine,
                "connect",
                lambda conn, _: sqlite_pragmas(conn, SQLITE_READ_BUSY_TIMEOUT_MS),
            )

    @contextlib.asynccontextmanager
    async def write_lock(self) -> AsyncIterator[None]:
        """Serialise the queue writers of several processes on one SQLite file.

        SQLite's own busy handler makes a waiting writer sleep (1, 2, 5, 10 ... 100 ms) and poll;
        a file lock wakes the next writer the moment the previous one commits. PostgreSQL needs
        no such lock.
        """
        if self._sync_engine is None:
            yield
            return
        if self._lock_file is None:
            path = make_url(self.url).database or ""
            self._lock_file = os.open(f"{path}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
        await asyncio.to_thread(fcntl.flock, self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _held(self) -> Connection:
        assert self._sync_engine is not None
        if self._sync_conn is None:
            connection = self._sync_engine.connect()
            self._sync_conn = connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._sync_conn

    async def rows(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """Run a read-only statement and return all its rows."""
        if self._sync_engine is None:
            async with self.engine.connect() as conn:
                return (await conn.execute(statement, params or {})).all()
        try:
            return self._held().execute(statement, params or {}).all()
        except sqlalchemy.exc.DBAPIError:
            self._drop_held()
            raise

    async def first(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Row[Any] | None:
        rows = await self.rows(statement, params)
        return rows[0] if rows else None

    async def scalar(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        row = await self.first(statement, params)
        return row[0] if row else None

    def _drop_held(self) -> None:
        if self._sync_conn is not None:
            self._sync_conn.close()
            self._sync_conn = None

    async def dispose(self) -> None:
        self._drop_held()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        await self.engine.dispose()
