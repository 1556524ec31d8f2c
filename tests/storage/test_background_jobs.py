"""Background jobs: a field update is refused for an unknown field and while one for the same
field runs, sets the value on every subscriber of the list in id ranges (other fields kept, other
lists untouched), and jobs are claimed with a lease."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from storage import accounts
from storage.background_jobs import (
    Refused,
    add_field_update,
    claim_due,
    record_try,
    save_result,
    set_field,
)
from storage.engine import Database
from storage.models import JobStatus, ListField, Subscriber, utcnow
from tests.storage.support import insert_list


async def make_list(db: Database, user_id: int, hash_: str, fields: list[dict]) -> int:

    def work(conn: Connection) -> int:
        list_id = insert_list(conn, user_id, hash_)
        conn.execute(
            insert(ListField).values(list_id=list_id, hash=f"f{hash_}", name="Code", tag="code")
        )
        rows = [
            {"list_id": list_id, "email": f"s{n}@{hash_}.test", "custom_fields": custom}
            for n, custom in enumerate(fields)
        ]
        if rows:
            conn.execute(insert(Subscriber), rows)
        return list_id

    return await db.write(work)


async def custom_fields(db: Database, list_id: int) -> list[dict]:
    query = (
        select(Subscriber.custom_fields)
        .where(Subscriber.list_id == list_id)
        .order_by(Subscriber.id)
    )
    return list([row[0] for row in await db.rows(query)])


async def test_a_field_update_is_queued_once_and_sets_every_subscriber(db: Database) -> None:
    owner = (await accounts.create_user(db, "owner@jobs.test")).user_id
    given = [{}, {"code": "old", "name": "Ann"}, {"name": "Bo"}, {}, {"code": "x"}]
    list_id = await make_list(db, owner, "jobslist1", given)
    other = await make_list(db, owner, "jobslist2", [{"code": "keep"}])

    assert await add_field_update(db, owner, list_id, "nope", "v", "http://a.test/") is (
        Refused.NO_FIELD
    )
    job = await add_field_update(db, owner, list_id, "CODE", "new ✓", "http://a.test/")
    assert isinstance(job, int)
    assert await add_field_update(db, owner, list_id, "code", "v", "http://a.test/") is (
        Refused.IN_PROGRESS
    )
    assert isinstance(await add_field_update(db, owner, other, "code", "v", "http://a.test/"), int)

    [claimed] = [j for j in await claim_due(db, "w1", 10, timedelta(minutes=1)) if j.id == job]
    assert claimed.payload == {
        "list_id": list_id,
        "field": "code",
        "value": "new ✓",
        "url": "http://a.test/",
    }
    assert await set_field(db, list_id, "code", "new ✓", batch=2) == 5
    assert await custom_fields(db, list_id) == [
        {"code": "new ✓"},
        {"code": "new ✓", "name": "Ann"},
        {"code": "new ✓", "name": "Bo"},
        {"code": "new ✓"},
        {"code": "new ✓"},
    ]
    assert await custom_fields(db, other) == [{"code": "keep"}]

    await save_result(db, job, "w1", {"updated": 5})  # the update is done: a new one may start
    assert isinstance(
        await add_field_update(db, owner, list_id, "code", "v", "http://a.test/"), int
    )


async def test_jobs_are_claimed_with_a_lease(db: Database) -> None:
    owner = (await accounts.create_user(db, "lease@jobs.test")).user_id
    list_id = await make_list(db, owner, "leaselist", [])
    job = await add_field_update(db, owner, list_id, "code", "v", "http://a.test/")
    lease = timedelta(minutes=1)

    assert [j.id for j in await claim_due(db, "w1", 5, lease)] == [job]
    assert await claim_due(db, "w2", 5, lease) == []  # leased to w1
    later = utcnow() + timedelta(minutes=2)
    [again] = await claim_due(db, "w2", 5, lease, now=later)  # w1's lease ran out
    assert (again.id, again.attempts) == (job, 0)

    assert isinstance(job, int)
    retry_at = utcnow() + timedelta(hours=1)
    await record_try(db, job, "w2", JobStatus.PENDING, 1, "HTTP 500", retry_at)
    assert await claim_due(db, "w3", 5, lease) == []  # not due yet
    [third] = await claim_due(db, "w3", 5, lease, now=retry_at + timedelta(seconds=1))
    assert third.attempts == 1
