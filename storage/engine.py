"""Engine setup: one async engine per process, with SQLite tuned for durability."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias, TypeVar, overload

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable, Select

SQLITE_BUSY_TIMEOUT_MS = 30_000

# A row of any statement: any number of columns of any types. (`Row[Any]` would be a row of ONE
# column to a type checker, since SQLAlchemy 2.1 types a row's columns as a variadic tuple.)
AnyRow: TypeAlias = Row[*tuple[Any, ...]]


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def shown_url(url: str) -> str:
    """The database URL as logs and messages may show it: its password masked."""
    return make_url(url).render_as_string(hide_password=True)


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
    # Ten connections kept per process: a burst of concurrent requests reuses them instead of
    # opening (TLS negotiation included) and closing overflow connections for each, which cost
    # 2 ms of CPU a request under load. Every worker process has its own pool.
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
    return create_async_engine(url, **(options | kwargs))


T = TypeVar("T")


class Database:
    """The database every storage operation takes: an async engine on PostgreSQL, and fast
    paths for the SMTP hot path on SQLite.

    Through aiosqlite every statement is a round trip to a worker thread and back through the
    event loop: about 0.3-0.5 ms of CPU for a one-row lookup, and a queue commit of a few
    statements waits for the busy loop at every step (8 ms measured under load, against 0.3 ms
    for the commit itself). So, on SQLite only:

    - `rows`/`first`/`scalar` (small indexed reads) run synchronously on a held connection in the
      caller's thread, about 0.03 ms; WAL readers never wait for the writer.
    - `read` runs reads that may scan many rows (listings, counts, reports) in a reader thread,
      all of them in one snapshot, so that the event loop goes on serving meanwhile.
    - `write` runs a whole transaction in one hop to a dedicated writer thread, holding a file
      lock so that the writers of several processes take turns without SQLite's busy-wait
      sleeps (1, 2, 5 ... 100 ms).

    On PostgreSQL both go through the async engine (`write` in one transaction with `run_sync`).
    Every storage operation goes through these: the engines are private to storage, so that no
    write goes around the writer (and its lock) on SQLite.
    """

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        # On SQLite every statement goes through the read or the write engine below instead.
        self._engine = None if is_sqlite(url) else create_engine(url, **engine_options)
        self._read_engine: sqlalchemy.Engine | None = None
        self._write_engine: sqlalchemy.Engine | None = None
        self._held_conn: Connection | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._lock_file: int | None = None
        if is_sqlite(url):
            sync_url = make_url(url).set(drivername="sqlite")
            self._read_engine = sqlalchemy.create_engine(sync_url, poolclass=sqlalchemy.NullPool)
            event.listen(
                self._read_engine,
                "connect",
                lambda conn, _: sqlite_pragmas(conn, SQLITE_READ_BUSY_TIMEOUT_MS),
            )
            self._write_engine = sqlalchemy.create_engine(sync_url, pool_size=1, max_overflow=0)
            event.listen(self._write_engine, "connect", lambda conn, _: sqlite_pragmas(conn))
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
            self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-reader")

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` in one transaction, committed when it returns."""
        if self._engine is not None:
            async with self._engine.begin() as conn:
                return await conn.run_sync(work)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._write_locked, work)

    def _write_locked(self, work: Callable[[Connection], T]) -> T:
        assert self._write_engine is not None
        if self._lock_file is None:
            path = make_url(self.url).database or ""
            self._lock_file = os.open(f"{path}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            with self._write_engine.begin() as conn:
                return work(conn)
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)`, which only reads, off the event loop: for reads that may scan
        many rows. On SQLite its statements share one snapshot."""
        if self._engine is not None:
            async with self._engine.connect() as conn:
                return await conn.run_sync(work)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_apart, work)

    async def scan(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[AnyRow]:
        """All rows of one read that may scan many rows (a listing, a count by group), off the
        event loop: `rows` is for small indexed reads."""
        return await self.read(lambda conn: conn.execute(statement, params or {}).all())

    def _read_apart(self, work: Callable[[Connection], T]) -> T:
        assert self._read_engine is not None
        with self._read_engine.connect() as conn, conn.begin():
            return work(conn)

    def _held(self) -> Connection:
        assert self._read_engine is not None
        if self._held_conn is None:
            connection = self._read_engine.connect()
            self._held_conn = connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._held_conn

    async def rows(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[AnyRow]:
        """Run a read-only statement and return all its rows."""
        if self._engine is not None:
            async with self._engine.connect() as conn:
                return (await conn.execute(statement, params or {})).all()
        try:
            return self._held().execute(statement, params or {}).all()
        except sqlalchemy.exc.DBAPIError:
            self._drop_held()
            raise

    async def first(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> AnyRow | None:
        rows = await self.rows(statement, params)
        return rows[0] if rows else None

    @overload
    async def scalar(
        self, statement: Select[T], params: Mapping[str, Any] | None = None
    ) -> T | None: ...

    @overload
    async def scalar(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Any: ...

    async def scalar(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None; typed as the column when the statement
        is a one-column select."""
        row = await self.first(statement, params)
        return row[0] if row else None

    def _drop_held(self) -> None:
        if self._held_conn is not None:
            self._held_conn.close()
            self._held_conn = None

    async def dispose(self) -> None:
        self._drop_held()
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._close_writer)
            self._writer.shutdown(wait=True)
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        if self._read_engine is not None:
            self._read_engine.dispose()
        if self._engine is not None:
            await self._engine.dispose()

    def _close_writer(self) -> None:
        assert self._write_engine is not None
        self._write_engine.dispose()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None


async def changed_rows(db: Database, statement: Executable) -> int:
    """Run one INSERT, UPDATE or DELETE in a transaction of its own; how many rows it changed."""
    return await db.write(lambda conn: int(conn.execute(statement).rowcount))
