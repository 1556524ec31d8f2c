"""SQL expressions that SQLite and PostgreSQL spell differently, so that one Core query answers
the same on both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class whole_seconds(FunctionElement[int]):
    """The whole seconds from the timestamp `start` to the timestamp `end`, truncated toward
    zero (NULL when either is NULL). SQLite keeps time to the millisecond, PostgreSQL to the
    microsecond."""

    type = Integer()
    inherit_cache = True
    name = "whole_seconds"

    def __init__(self, start: ColumnElement[Any], end: ColumnElement[Any]) -> None:
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
