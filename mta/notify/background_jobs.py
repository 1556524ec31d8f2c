"""The background job runner: claims due jobs (storage/background_jobs.py) with a lease, does
their work, and reports the result to the job's callback URL.

`update_field_value` (003's /rest/subscriber/updateFieldValue) sets the field on every
subscriber of the list, then POSTs `{"status":"OK","data":{"id":..,"updated":..}}` to the URL
the call gave. The URL is checked as webhook URLs are and the call connects to the checked
address (mta/checked_http). The receiver must answer 2xx with the JSON `{"status":"OK"}`; any
other answer, or none, is tried again after the webhook retry schedule's waits
(`webhook_retry_schedule`, 5s,5m,30m,2h,5h,10h,10h by default: 8 tries over about 28 hours),
then the job is failed. The update itself is done once: a retry only repeats the callback.

The runner is a leased worker (mta/worker/leased_worker.py) and runs beside the campaign scheduler,
in every `serve`'s scheduler process (mailgate/worker_processes.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mta.checked_http import Answer, CallFailed, HttpOptions, HttpSender
from mta.worker.leased_worker import LeasedWorker, WorkerLimits
from mta.worker.retry_policy import RetryPolicy
from storage.background_jobs import (
    FIELD_UPDATE,
    Job,
    claim_due,
    record_try,
    save_result,
    set_field,
)
from storage.engine import Database
from storage.models import JobStatus, utcnow

log = logging.getLogger("mailgate.jobs")

USER_AGENT = "Mailgate-Callbacks/1"


@dataclass(frozen=True)
class JobOptions:
    retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    lease: timedelta = timedelta(minutes=15)
    poll_interval: float = 0.5
    batch: int = 4  # jobs run at once
    http: HttpOptions = field(default_factory=HttpOptions)

    def limits(self) -> WorkerLimits:
        return WorkerLimits(self.batch, self.batch, self.lease, self.poll_interval)


@dataclass(frozen=True)
class Try:
    """One try of a job: done, failed for good, or pending again at `next_attempt_at`."""

    job: Job
    status: JobStatus
    error: str | None = None
    next_attempt_at: datetime | None = None

    @property
    def attempts(self) -> int:
        return self.job.attempts + 1


class CallbackRefused(Exception):
    """The callback was answered, but not with `{"status":"OK"}`."""


def accepted(answer: Answer) -> bool:
    """The callback's answer is the one 003 expects: `{"status":"OK"}` (with a 2xx status)."""
    if not 200 <= answer.status < 300:
        return False
    try:
        parsed = json.loads(answer.text)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("status") == "OK"


class JobRunner(LeasedWorker[Job, Job, Try]):
    def __init__(
        self,
        db: Database,
        options: JobOptions,
        sender: HttpSender | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(db, options.limits(), name)
        self.options = options
        self.retry = RetryPolicy(options.retry_schedule)  # after the last wait, a job fails
        self.sender = sender or HttpSender(options.http)

    # -- the worker machine's hooks ----------------------------------------------------------

    async def claim(self, limit: int) -> list[Job]:
        return await claim_due(self.db, self.name, limit, self.limits.lease)

    async def process(self, item: Job) -> list[Try]:
        """One try of a job. A failure of ours is retried like a refused callback."""
        try:
            await self.attempt(item)
        except (CallFailed, CallbackRefused) as failure:
            return [self.failed(item, str(failure))]
        return [Try(item, JobStatus.DONE)]

    def crashed(self, item: Job, error: Exception) -> list[Try]:
        return [self.failed(item, f"internal error: {error!r}")]

    def describe(self, item: Job) -> str:
        return f"job={item.id} kind={item.kind}"

    async def record(self, results: list[Try]) -> None:
        for done in results:
            await record_try(
                self.db,
                done.job.id,
                self.name,
                done.status,
                done.attempts,
                done.error,
                done.next_attempt_at,
            )

    def logged(self, result: Try) -> None:
        log_try(result)

    async def close(self) -> None:
        await self.sender.close()

    # -- one job -----------------------------------------------------------------------------

    async def attempt(self, job: Job) -> None:
        if job.kind != FIELD_UPDATE:
            raise ValueError(f"unknown job kind {job.kind!r}")
        payload = job.payload
        result = job.result
        if result is None:
            updated = await set_field(
                self.db, int(payload["list_id"]), payload["field"], str(payload["value"])
            )
            result = {"updated": updated}
            await save_result(self.db, job.id, self.name, result)
        await self.report(job, payload["url"], {"id": job.id, **result})

    async def report(self, job: Job, url: str, data: dict[str, Any]) -> None:
        body = json.dumps({"status": "OK", "data": data}).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        answer = await self.sender.post(url, body, headers)
        if not accepted(answer):
            raise CallbackRefused(f"HTTP {answer.status}: {answer.text[:200]}")

    def failed(self, job: Job, error: str) -> Try:
        """Try again after the schedule's wait, or fail the job after its last."""
        later = self.retry.next_attempt(job.attempts + 1, utcnow())
        if later is None:
            return Try(job, JobStatus.FAILED, error)
        return Try(job, JobStatus.PENDING, error, later)


def log_try(done: Try) -> None:
    job = done.job
    if done.status is JobStatus.DONE:
        log.info("background job done job=%d kind=%s attempt=%d", job.id, job.kind, done.attempts)
    elif done.status is JobStatus.FAILED:
        log.warning(
            "background job failed job=%d attempts=%d error=%r", job.id, done.attempts, done.error
        )
    else:
        later = done.next_attempt_at.isoformat() if done.next_attempt_at else None
        log.info(
            "background job retry job=%d attempt=%d next=%s error=%r",
            job.id,
            done.attempts,
            later,
            done.error,
        )
