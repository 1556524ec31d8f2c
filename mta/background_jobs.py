"""The background job runner: claims due jobs (storage/background_jobs.py) with a lease, does
their work, and reports the result to the job's callback URL.

`update_field_value` (003's /rest/subscriber/updateFieldValue) sets the field on every
subscriber of the list, then POSTs `{"status":"OK","data":{"id":..,"updated":..}}` to the URL
the call gave. The URL is checked as webhook URLs are and the call connects to the checked
address (mta/checked_http). The receiver must answer 2xx with the JSON `{"status":"OK"}`; any
other answer, or none, is tried again after the webhook retry schedule's waits
(`webhook_retry_schedule`, 5s,5m,30m,2h,5h,10h,10h by default: 8 tries over about 28 hours),
then the job is failed. The update itself is done once: a retry only repeats the callback.

The runner runs beside the webhook dispatcher, in its process (mailgate/serve.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mta.checked_http import Answer, CallFailed, HttpOptions, HttpSender
from mta.delivery import _wait_any, worker_name
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
    batch: int = 4  # jobs claimed at once
    http: HttpOptions = field(default_factory=HttpOptions)


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


class JobRunner:
    def __init__(
        self,
        db: Database,
        options: JobOptions,
        sender: HttpSender | None = None,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.options = options
        self.sender = sender or HttpSender(options.http)
        self.name = name or worker_name()

    async def run(self, stop: asyncio.Event) -> None:
        """Run due jobs until `stop` is set; the jobs in hand are finished first."""
        try:
            while not stop.is_set():
                jobs = await claim_due(self.db, self.name, self.options.batch, self.options.lease)
                if not jobs:
                    await _wait_any(stop, None, self.options.poll_interval)
                    continue
                results = await asyncio.gather(*map(self.run_job, jobs), return_exceptions=True)
                for error in results:
                    if isinstance(error, Exception):  # not recorded: the lease brings it back
                        log.error("recording a background job failed: %r", error)
        finally:
            await self.sender.close()

    async def run_job(self, job: Job) -> None:
        """One try of a job, its outcome stored. A failure of ours is retried like a refused
        callback: a bug must not lose the job."""
        try:
            await self.attempt(job)
        except (CallFailed, CallbackRefused) as failure:
            await self.failed(job, str(failure))
        except Exception as error:
            log.exception("background job failed job=%d kind=%s", job.id, job.kind)
            await self.failed(job, f"internal error: {error!r}")
        else:
            await record_try(self.db, job.id, self.name, JobStatus.DONE, job.attempts + 1)
            log.info(
                "background job done job=%d kind=%s attempt=%d", job.id, job.kind, 1 + job.attempts
            )

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

    async def failed(self, job: Job, error: str) -> None:
        """Try again after the schedule's wait, or fail the job after its last."""
        made = job.attempts + 1
        schedule = self.options.retry_schedule
        if made > len(schedule):
            await record_try(self.db, job.id, self.name, JobStatus.FAILED, made, error)
            log.warning("background job failed job=%d attempts=%d error=%r", job.id, made, error)
            return
        later = utcnow() + timedelta(seconds=schedule[made - 1] * random.uniform(0.9, 1.1))
        await record_try(self.db, job.id, self.name, JobStatus.PENDING, made, error, later)
        log.info(
            "background job retry job=%d attempt=%d next=%s error=%r",
            job.id,
            made,
            later.isoformat(),
            error,
        )
