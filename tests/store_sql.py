"""How gateway tests look at, and set up, what a gateway stores, on SQLite and PostgreSQL alike:
one statement at a time through the gateway's own database URL, written with `?` placeholders,
committed, its rows returned as plain tuples.

The tests were written against SQLite's values, so on PostgreSQL the rows come back in the
forms SQLite keeps (UUIDs as 32 hex digits, times as UTC 'YYYY-MM-DD HH:MM:SS.ffffff',
booleans as 0/1, numerics as int or float), and parameters are turned into what asyncpg
wants for the column type the server infers (a UUID from its hex, a time from its text, a
boolean from 0/1): the same call sites run on both."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import json
import sqlite3
import threading
import uuid
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from storage.engine import is_sqlite

Row = tuple[Any, ...]

_INTEGERS = {"int2", "int4", "int8"}
_TEXTS = {"text", "varchar", "bpchar", "name"}
_TIMES = {"timestamptz", "timestamp"}


def sql(url: str, statement: str, params: Sequence[Any] = ()) -> list[Row]:
    """Run one statement on the database at `url` (committed) and return its rows."""
    return sql_many(url, statement, [params])


def sql_many(url: str, statement: str, rows: Iterable[Sequence[Any]]) -> list[Row]:
    """Run one statement once for each of `rows` in one transaction; the rows of the last."""
    if is_sqlite(url):
        path = make_url(url).database or ""
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn, conn:
            result: list[Row] = []
            for params in rows:
                result = conn.execute(statement, tuple(params)).fetchall()
            return result
    return _LOOP.run(_postgres(url, _numbered(statement), [tuple(p) for p in rows]))


class Cursor:
    """The rows of one statement, read as from a sqlite3 cursor."""

    def __init__(self, rows: list[Row]) -> None:
        self._rows = iter(rows)

    def fetchone(self) -> Row | None:
        return next(self._rows, None)

    def fetchall(self) -> list[Row]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Row]:
        return self._rows


class StoreConnection:
    """A sqlite3.Connection-shaped handle on a gateway's store (`with db(api) as conn:
    conn.execute(...)`): each statement runs and commits at once, on either backend."""

    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Cursor:
        return Cursor(sql(self.url, statement, params))

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        sql_many(self.url, statement, rows)

    def close(self) -> None:
        """Nothing is held between statements."""

    def __enter__(self) -> StoreConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _Loop:
    """One event loop in a thread of its own, for the PostgreSQL statements of synchronous
    tests (and of async ones, whose own loop is busy running them)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, list[Row]]) -> list[Row]:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


_LOOP = _Loop()


async def _postgres(url: str, statement: str, rows: list[Row]) -> list[Row]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    try:
        async with conn.transaction():
            prepared = await conn.prepare(statement)
            types = [parameter.name for parameter in prepared.get_parameters()]
            result: list[asyncpg.Record] = []
            for params in rows:
                result = await prepared.fetch(*map(_argument, params, types))
        return [tuple(map(_sqlite_form, record.values())) for record in result]
    finally:
        await conn.close()


def _numbered(statement: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (not those inside quotes)."""
    out: list[str] = []
    quote: str | None = None
    number = 0
    for char in statement:
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?":
            number += 1
            char = f"${number}"
        out.append(char)
    return "".join(out)


def _argument(value: Any, type_name: str) -> Any:
    """A parameter as asyncpg wants it for a column of `type_name`, from its SQLite form."""
    if value is None:
        return None
    if type_name == "uuid" and isinstance(value, str):
        return uuid.UUID(value)
    if type_name in _TIMES and isinstance(value, str):
        moment = datetime.datetime.fromisoformat(value)
        if type_name == "timestamptz" and moment.tzinfo is None:
            return moment.replace(tzinfo=datetime.UTC)
        return moment
    if type_name == "bool" and isinstance(value, int):
        return bool(value)
    if type_name in _INTEGERS and isinstance(value, str):
        return int(value)
    if type_name in _TEXTS and isinstance(value, int | float):
        return str(value)
    if type_name == "numeric" and isinstance(value, int | float | str):
        return decimal.Decimal(str(value))
    if type_name in {"json", "jsonb"} and not isinstance(value, str):
        return json.dumps(value)
    if type_name == "bytea" and isinstance(value, str):
        return value.encode()
    return value


def _sqlite_form(value: Any) -> Any:
    """A PostgreSQL value as SQLite (through SQLAlchemy's types) keeps it."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
