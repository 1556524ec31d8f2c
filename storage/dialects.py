"""SQL expressions that SQLite and PostgreSQL spell differently, so that one Core query answers
the same on both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, Integer
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
