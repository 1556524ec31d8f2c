"""SQL expressions that SQLite and PostgreSQL spell differently, so that one Core query answers
the same on both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    ColumnExpressionArgument,
    Integer,
    String,
    literal_column,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


def dialect_insert(conn: Connection) -> Any:
    """The backend's own `insert` (its ON CONFLICT clauses differ in spelling, not meaning)."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


class whole_seconds(FunctionElement[int]):
    """The whole seconds from the timestamp `start` to the timestamp `end`, truncated toward
    zero (NULL when either is NULL). SQLite keeps time to the millisecond, PostgreSQL to the
    microsecond."""

    type = Integer()
    inherit_cache = True
    name = "whole_seconds"

    def __init__(
        self, start: ColumnExpressionArgument[Any], end: ColumnExpressionArgument[Any]
    ) -> None:
        super().__init__(start, end)


def _operands(element: whole_seconds, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    start, end = element.clauses.clauses
    return compiler.process(start, **kw), compiler.process(end, **kw)


@compiles(whole_seconds)
def _whole_seconds(element: whole_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _operands(element, compiler, **kw)
    return f"CAST(TRUNC(EXTRACT(EPOCH FROM ({end} - {start}))) AS INTEGER)"


@compiles(whole_seconds, "sqlite")
def _whole_seconds_sqlite(element: whole_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() is exact to the millisecond; integer division truncates toward zero.
    start, end = _operands(element, compiler, **kw)
    return f"(CAST(ROUND((julianday({end}) - julianday({start})) * 86400000) AS INTEGER) / 1000)"


class json_with_key(FunctionElement[Any]):
    """The JSON object `document` with the string `value` under `key` (other keys kept; a
    document that is NULL or not an object reads as {}). Key and value are bound values, never
    spliced into a JSON path."""

    type = JSON()
    inherit_cache = True
    name = "json_with_key"

    def __init__(self, document: Any, key: Any, value: Any) -> None:
        super().__init__(document, key, value)


def _json_operands(element: json_with_key, compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses.clauses]


@compiles(json_with_key)
def _json_with_key(element: json_with_key, compiler: SQLCompiler, **kw: Any) -> str:
    document, key, value = _json_operands(element, compiler, **kw)
    current = f"CASE WHEN json_typeof({document}) = 'object' THEN {document}::jsonb ELSE '{{}}' END"
    return f"(({current}) || jsonb_build_object(CAST({key} AS TEXT), CAST({value} AS TEXT)))::json"


@compiles(json_with_key, "sqlite")
def _json_with_key_sqlite(element: json_with_key, compiler: SQLCompiler, **kw: Any) -> str:
    # json_patch (RFC 7396) replaces a target that is not an object by the patch.
    document, key, value = _json_operands(element, compiler, **kw)
    return f"json_patch(coalesce({document}, '{{}}'), json_object({key}, {value}))"


class time_bucket(FunctionElement[str]):
    """The start of the `seconds`-long period (counted from the epoch, so from midnight UTC
    when it divides a day) that the timestamp falls in, as text `YYYY-MM-DD HH:MM` in UTC.
    `seconds` is written into the SQL as a number, not bound, so that a GROUP BY of the same
    expression matches its SELECT on PostgreSQL (and it is part of the statement's cache key)."""

    type = String()
    inherit_cache = True
    name = "time_bucket"

    def __init__(self, timestamp: ColumnExpressionArgument[Any], seconds: int) -> None:
        super().__init__(timestamp, literal_column(str(int(seconds))))


def _bucket_operands(element: time_bucket, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    timestamp, seconds = element.clauses.clauses
    return compiler.process(timestamp, **kw), compiler.process(seconds, **kw)


@compiles(time_bucket)
def _time_bucket(element: time_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    timestamp, seconds = _bucket_operands(element, compiler, **kw)
    start = f"to_timestamp(floor(extract(epoch FROM {timestamp}) / {seconds}) * {seconds})"
    return f"to_char({start} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"


@compiles(time_bucket, "sqlite")
def _time_bucket_sqlite(element: time_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    # Timestamps are stored as UTC text; strftime('%s') reads them as seconds (fractions cut).
    timestamp, seconds = _bucket_operands(element, compiler, **kw)
    start = f"(CAST(strftime('%s', {timestamp}) AS INTEGER) / {seconds}) * {seconds}"
    return f"strftime('%Y-%m-%d %H:%M', {start}, 'unixepoch')"
