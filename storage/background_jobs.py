"""Background jobs (storage.models.BackgroundJob): work an API call leaves to run later, its
result, and the callback that reports it.

Jobs are claimed as the other queues' rows are (storage/leases.py): with a lease that, run out
(a crashed runner), makes the job due again. A job is pending until its
callback was answered as expected (done) or its tries ran out (failed); its `result` is stored
as soon as the work is done, so that a retried callback does not redo the work.

The one kind so far, `update_field_value` (003's /rest/subscriber/updateFieldValue), sets one
custom field on every subscriber of a list: one UPDATE per range of subscriber ids, the JSON
merged by the database (storage.dialects.json_with_key), so no list is ever read into memory.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from storage.dialects import json_with_key
from storage.engine import Database, changed_rows
from storage.leases import claim_statement, lease_rows
from storage.models import (
    BackgroundJob,
    JobStatus,
    ListField,
    Subscriber,
    SubscriberList,
    utcnow,
)

FIELD_UPDATE = "update_field_value"
BATCH = 2000  # subscribers per UPDATE (and per transaction: SQLite's writer is not held long)
MAX_ERROR = 500  # characters of the last error kept (the column's size)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    user_id: int
    payload: dict[str, Any]
    result: dict[str, Any] | None
    attempts: int  # made before this one


# -- adding a field update -----------------------------------------------------------------


class Refused(enum.Enum):
    NO_FIELD = "no such field on the list"
    IN_PROGRESS = "an update of this field is in progress"


def _add_field_update(
    conn: Connection, user_id: int, list_id: int, tag: str, value: str, url: str
) -> int | Refused:
    # Locks the list's row on PostgreSQL: two requests for one list take turns (SQLite has one
    # writer anyway), so the in-progress check below cannot pass twice.
    conn.execute(
        select(SubscriberList.id).where(SubscriberList.id == list_id).with_for_update()
    ).first()
    field = conn.execute(
        select(ListField.tag).where(
            ListField.list_id == list_id, func.lower(ListField.tag) == tag.strip().lower()
        )
    ).scalar()
    if field is None:
        return Refused.NO_FIELD
    running = conn.execute(
        select(BackgroundJob.payload).where(
            BackgroundJob.kind == FIELD_UPDATE,
            BackgroundJob.user_id == user_id,
            BackgroundJob.status == JobStatus.PENDING,
            BackgroundJob.result.is_(None),
        )
    ).scalars()
    if any(p.get("list_id") == list_id and p.get("field") == field for p in running):
        return Refused.IN_PROGRESS
    payload = {"list_id": list_id, "field": field, "value": value, "url": url}
    inserted = BackgroundJob.__table__.insert().returning(BackgroundJob.id)
    now = utcnow()
    return int(
        conn.execute(
            inserted,
            {
                "kind": FIELD_UPDATE,
                "user_id": user_id,
                "payload": payload,
                "status": JobStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        ).scalar_one()
    )


async def add_field_update(
    db: Database, user_id: int, list_id: int, tag: str, value: str, url: str
) -> int | Refused:
    """Queue setting the field `tag` of the (owner's) list to `value` for every subscriber,
    reported to `url`: the job's id, or why not (no such field, one already in progress:
    pending and not yet done with the update, its callback aside)."""
    return await db.write(lambda conn: _add_field_update(conn, user_id, list_id, tag, value, url))


async def set_field(db: Database, list_id: int, tag: str, value: str, batch: int = BATCH) -> int:
    """Set `tag` to `value` on every subscriber of the list; returns how many subscribers."""
    updated, last = 0, 0
    while True:
        ids = (
            select(Subscriber.id)
            .where(Subscriber.list_id == list_id, Subscriber.id > last)
            .order_by(Subscriber.id)
            .limit(batch)
            .subquery()
        )
        top = await db.scalar(select(func.max(ids.c.id)))
        if top is None:
            return updated
        statement = (
            update(Subscriber)
            .where(Subscriber.list_id == list_id, Subscriber.id > last, Subscriber.id <= top)
            .values(
                custom_fields=json_with_key(Subscriber.custom_fields, tag, value),
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        updated += await changed_rows(db, statement)
        last = top


# -- running ---------------------------------------------------------------------------------


_CLAIM = claim_statement(
    BackgroundJob,
    BackgroundJob.status == JobStatus.PENDING,
    (
        BackgroundJob.id,
        BackgroundJob.kind,
        BackgroundJob.user_id,
        BackgroundJob.payload,
        BackgroundJob.result,
        BackgroundJob.attempts,
    ),
)


async def claim_due(
    db: Database, worker: str, limit: int, lease: timedelta, now: datetime | None = None
) -> list[Job]:
    """Lease up to `limit` due jobs to `worker`, oldest due first."""
    return [Job(*row) for row in await lease_rows(db, _CLAIM, worker, limit, lease, now)]


def _leased(job_id: int, worker: str) -> Any:
    return update(BackgroundJob).where(
        BackgroundJob.id == job_id, BackgroundJob.locked_by == worker
    )


async def save_result(db: Database, job_id: int, worker: str, result: dict[str, Any]) -> None:
    """The work is done: keep its result (a retried callback reports it without redoing it)."""
    statement = _leased(job_id, worker).values(result=result)
    await db.write(lambda conn: conn.execute(statement))


async def record_try(
    db: Database,
    job_id: int,
    worker: str,
    status: JobStatus,
    attempts: int,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    """One try's outcome: done, failed for good, or pending again at `next_attempt_at`."""
    now = utcnow()
    statement = _leased(job_id, worker).values(
        status=status,
        attempts=attempts,
        last_error=error[:MAX_ERROR] if error else None,
        next_attempt_at=next_attempt_at or now,
        finished_at=None if status is JobStatus.PENDING else now,
        locked_by=None,
        locked_until=None,
    )
    await db.write(lambda conn: conn.execute(statement))


async def job_view(db: Database, job_id: int) -> dict[str, Any] | None:
    """A job's state, for operators and tests."""
    columns = (
        BackgroundJob.status,
        BackgroundJob.attempts,
        BackgroundJob.result,
        BackgroundJob.last_error,
        BackgroundJob.finished_at,
    )
    row = await db.first(select(*columns).where(BackgroundJob.id == job_id))
    return dict(row._mapping) if row is not None else None
