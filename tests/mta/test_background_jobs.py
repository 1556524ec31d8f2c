"""mta/notify/background_jobs.py on its own, with a real database (SQLite and PostgreSQL) and a
real callback receiver on loopback: a field update is done on every subscriber and reported
to the job's URL; a callback not answered `{"status":"OK"}` is tried again after the
schedule's wait without redoing the update, and the job fails after the last; a URL that
fails the check is never called; a job the runner does not know is not lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from mta.checked_http import Answer, HttpOptions
from mta.notify.background_jobs import USER_AGENT, JobOptions, JobRunner, accepted
from storage.accounts import create_user
from storage.background_jobs import add_field_update, claim_due
from storage.engine import Database
from storage.models import BackgroundJob, JobStatus, ListField, Subscriber, SubscriberList, utcnow
from tests.conftest import async_wait_until
from tests.mta.test_webhooks import Received, Receiver, serve_receiver

OK = b'{"status":"OK"}'


@dataclass
class Callbacks(Receiver):
    """The receiver of test_webhooks, answering each path with the status and body set here
    (200 and `{"status":"OK"}` when none is)."""

    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def status_for(self, received: Received) -> int:
        return self.answers.get(received.path, (200, OK))[0]

    def body_for(self, received: Received) -> bytes:
        return self.answers.get(received.path, (200, OK))[1]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Callbacks]:
    """One server for the module (stopping one takes half a second)."""
    running = Callbacks()
    server = serve_receiver(running)
    try:
        yield running
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def callbacks(receiver: Callbacks) -> Callbacks:
    """The module's receiver, with no calls kept and no answers set by earlier tests."""
    with receiver.lock:
        receiver.calls.clear()
        receiver.answered.clear()
        receiver.answers.clear()
    return receiver


@dataclass
class Jobs:
    db: Database
    user_id: int
    list_id: int

    def runner(self, schedule: tuple[float, ...] = (5, 300), private: bool = True) -> JobRunner:
        options = JobOptions(
            retry_schedule=schedule,
            poll_interval=0.05,
            http=HttpOptions(allow_private=private, timeout=5),
        )
        return JobRunner(self.db, options, name="test-runner")

    async def add(self, url: str, value: str = "gold") -> int:
        job = await add_field_update(self.db, self.user_id, self.list_id, "tier", value, url)
        assert isinstance(job, int), job
        return job

    async def row(self, job_id: int) -> Any:
        found = await self.db.first(
            select(
                BackgroundJob.status,
                BackgroundJob.attempts,
                BackgroundJob.last_error,
                BackgroundJob.next_attempt_at,
                BackgroundJob.result,
                BackgroundJob.finished_at,
            ).where(BackgroundJob.id == job_id)
        )
        assert found is not None
        return found

    async def fields(self) -> list[dict[str, Any]]:
        statement = (
            select(Subscriber.custom_fields)
            .where(Subscriber.list_id == self.list_id)
            .order_by(Subscriber.id)
        )
        return [row[0] for row in await self.db.rows(statement)]

    async def one_try(self, runner: JobRunner, now: datetime | None = None) -> None:
        """What the worker machine does with one due job: claim it, try it, record the try
        (at `now`, to reach a retry's time without waiting for it)."""
        [job] = await claim_due(self.db, runner.name, 1, timedelta(minutes=1), now=now)
        await runner.record(await runner.process(job))


@pytest.fixture
async def jobs(db: Database) -> AsyncIterator[Jobs]:
    user = await create_user(db, "owner@jobs.test")

    def made(conn: Any) -> int:
        list_id = conn.execute(
            insert(SubscriberList)
            .values(user_id=user.user_id, hash="jobs1", name="jobs")
            .returning(SubscriberList.id)
        ).scalar_one()
        conn.execute(insert(ListField).values(list_id=list_id, hash="f1", name="Tier", tag="tier"))
        rows = [
            {"list_id": list_id, "email": f"s{n}@jobs.test", "custom_fields": {"name": f"S{n}"}}
            for n in range(3)
        ]
        conn.execute(insert(Subscriber), rows)
        return int(list_id)

    yield Jobs(db, user.user_id, await db.write(made))


@pytest.mark.parametrize(
    ("status", "text", "ok"),
    [
        (200, '{"status":"OK"}', True),
        (201, '{"status": "OK", "extra": 1}', True),
        (200, '{"status":"ok"}', False),
        (200, '{"status":"ERROR"}', False),
        (200, '["OK"]', False),
        (200, "OK", False),
        (204, "", False),
        (500, '{"status":"OK"}', False),
        (302, '{"status":"OK"}', False),
    ],
    ids=["ok", "ok-with-more", "lowercase", "error", "a-list", "not-json", "no-content",
         "server-error", "redirect"],
)  # fmt: skip
def test_only_a_2xx_status_ok_answer_is_accepted(status: int, text: str, ok: bool) -> None:
    assert accepted(Answer(status, text, None)) is ok


async def test_the_running_worker_updates_every_subscriber_and_reports_it(
    jobs: Jobs, callbacks: Callbacks
) -> None:
    job = await jobs.add(callbacks.url("/done"), "gold ✓")
    unknown = await jobs.db.write(
        lambda conn: conn.execute(
            insert(BackgroundJob)
            .values(kind="mystery", user_id=jobs.user_id, payload={})
            .returning(BackgroundJob.id)
        ).scalar_one()
    )
    runner, stop = jobs.runner(), asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:

        async def both_tried() -> bool:
            rows = [await jobs.row(job), await jobs.row(unknown)]
            return all(row.attempts == 1 for row in rows)

        await async_wait_until(both_tried, timeout=20)
    finally:
        stop.set()
        await running

    assert await jobs.fields() == [{"name": f"S{n}", "tier": "gold ✓"} for n in range(3)]
    done = await jobs.row(job)
    assert (done.status, done.last_error, done.result) == (JobStatus.DONE, None, {"updated": 3})
    assert done.finished_at is not None
    [call] = callbacks.to("/done")
    assert json.loads(call.body) == {"status": "OK", "data": {"id": job, "updated": 3}}
    assert call.headers["content-type"] == "application/json"
    assert call.headers["user-agent"] == USER_AGENT
    # A job of a kind the runner does not know is tried again later, not lost.
    mystery = await jobs.row(unknown)
    assert mystery.status == JobStatus.PENDING
    assert mystery.last_error.startswith("internal error: ValueError(\"unknown job kind 'mystery'")


async def test_a_refused_callback_is_retried_without_redoing_the_update_then_fails(
    jobs: Jobs, callbacks: Callbacks
) -> None:
    callbacks.answers["/hook"] = (200, b'{"status":"ERROR","reason":"busy"}')
    job = await jobs.add(callbacks.url("/hook"))
    runner = jobs.runner(schedule=(5, 300))

    before = utcnow()
    await jobs.one_try(runner)
    first = await jobs.row(job)
    assert (first.status, first.attempts, first.result) == (JobStatus.PENDING, 1, {"updated": 3})
    assert first.last_error == 'HTTP 200: {"status":"ERROR","reason":"busy"}'
    assert timedelta(seconds=4.5) <= first.next_attempt_at - before <= timedelta(seconds=6)
    assert await claim_due(jobs.db, "other", 1, timedelta(minutes=1)) == []  # not yet due

    # Meanwhile a subscriber's value changes: the retry reports, it does not set it again.
    changed = update(Subscriber).where(Subscriber.email == "s0@jobs.test")
    await jobs.db.write(lambda conn: conn.execute(changed.values(custom_fields={"tier": "own"})))
    callbacks.answers["/hook"] = (503, b"down")
    await jobs.one_try(runner, now=first.next_attempt_at + timedelta(seconds=1))
    second = await jobs.row(job)
    assert (second.status, second.attempts, second.last_error) == (
        JobStatus.PENDING, 2, "HTTP 503: down"
    )  # fmt: skip
    assert second.next_attempt_at - first.next_attempt_at >= timedelta(seconds=260)

    await jobs.one_try(runner, now=second.next_attempt_at + timedelta(seconds=1))
    failed = await jobs.row(job)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 3)  # after the schedule's last
    assert failed.finished_at is not None
    assert (await jobs.fields())[0] == {"tier": "own"}
    calls = callbacks.to("/hook")
    assert len(calls) == 3
    assert {call.body for call in calls} == {
        json.dumps({"status": "OK", "data": {"id": job, "updated": 3}}).encode()
    }


async def test_a_callback_url_that_fails_the_check_is_never_called(
    jobs: Jobs, callbacks: Callbacks
) -> None:
    job = await jobs.add(callbacks.url("/private"))
    await jobs.one_try(jobs.runner(private=False))
    row = await jobs.row(job)
    assert (row.status, row.attempts) == (JobStatus.PENDING, 1)
    assert row.last_error == "refused: 127.0.0.1 is a loopback address"
    assert row.result == {"updated": 3}  # the update is done; only its report waits
    assert callbacks.to("/private") == []
