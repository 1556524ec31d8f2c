"""The one claim mechanism of Mailgate's work queues (the delivery queue, the webhook outbox,
background jobs): due rows are leased to a worker with one UPDATE of the rows a sub-select
takes, oldest due first, `FOR UPDATE SKIP LOCKED` on PostgreSQL (several workers and nodes
never take the same row) and atomic in SQLite's single writer. A lease that runs out (a crashed
worker) makes its rows due again.

A queue's table has `id`, `next_attempt_at`, `locked_by` and `locked_until`; the statement binds
`now`, `limit`, `worker` and `until` (now + the lease)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, update

from storage.engine import AnyRow, Database
from storage.models import utcnow


def claim_statement(
    table: Any, pending: ColumnElement[bool], returning: tuple[Any, ...], *more: Any
) -> Any:
    """The UPDATE that leases up to `limit` rows of `table` that are `pending` (and match
    `more`) and due at `now`, returning `returning`."""
    due = (
        select(table.id)
        .where(
            pending,
            table.next_attempt_at <= bindparam("now"),
            or_(table.locked_until.is_(None), table.locked_until < bindparam("now")),
            *more,
        )
        .order_by(table.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        update(table)
        .where(table.id.in_(due))
        .values(locked_by=bindparam("worker"), locked_until=bindparam("until"))
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )


async def lease_rows(
    db: Database,
    statement: Any,
    worker: str,
    limit: int,
    lease: timedelta,
    now: datetime | None = None,
    **more: Any,
) -> Sequence[AnyRow]:
    """Run a `claim_statement` (with the values of its `more` conditions' parameters)."""
    now = now or utcnow()
    params = {"now": now, "limit": limit, "worker": worker, "until": now + lease, **more}
    return await db.write(lambda conn: conn.execute(statement, params).all())
