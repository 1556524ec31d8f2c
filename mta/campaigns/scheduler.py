"""The campaign scheduler: starts due campaigns, queues their recipients, and closes finished
runs. It runs in a process of its own, `scheduler` (beside the background jobs), in every
`mailgate serve` (mailgate/worker_processes.py).

One `tick` does three things, each safe with several schedulers on several nodes
(storage/campaigns/claims.py):

1. Start: a campaign whose `next_run_at` has passed is claimed, its run's message is built once
   (mta/campaigns/message.py: the template every recipient's copy is personalised from at
   delivery) and queued, and the run starts with the audience frozen as a plan.
2. Queue: a run with recipients left is leased and its recipients are queued batch by batch,
   each batch committed with the run's cursor (storage/campaigns/runs.py), for at most
   `queue_slice` seconds before the next tick looks at new work again. A paused or canceled
   run stops at the next batch. Batches count against the account's sending limits (per hour
   and per day, mta/submission/sending_limits.py) like any other mail: a run its account may not
   send more of now waits and goes on when they allow.
3. Finish: a run whose every delivery is final closes; the campaign is Sent, or Scheduled
   again at its next recurrence.

Time comes from `clock`, so tests drive the schedule without waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mta.campaigns.message import CampaignContentError, build_run_message
from mta.checked_http import HttpSender
from mta.submission.submit import Gateway, sender_for_domain
from mta.worker.leased_worker import wait_any, worker_name
from storage.campaigns.audience import AudienceError, run_plan
from storage.campaigns.claims import (
    Schedulable,
    claim_campaign,
    claim_run,
    discard_message,
    due_campaigns,
    fail_campaign,
    release_run,
    run_sender_domain,
    schedulable,
)
from storage.campaigns.runs import complete_campaign, finish_runs, queue_batch, start_run
from storage.campaigns.schedule import next_recurrence
from storage.models import ScheduleType, utcnow

log = logging.getLogger("mailgate.campaigns")


@dataclass(frozen=True)
class SchedulerOptions:
    batch: int = 2000  # recipients queued per transaction
    queue_slice: float = 2.0  # seconds of queueing per tick
    poll_interval: float = 1.0
    start_lease: timedelta = timedelta(minutes=5)  # a claimed campaign is due again after it
    run_lease: timedelta = timedelta(minutes=2)
    limit_wait: timedelta = timedelta(minutes=1)  # a run over its account's sending limits


class CampaignScheduler:
    def __init__(
        self,
        gw: Gateway,
        options: SchedulerOptions | None = None,
        clock: Callable[[], datetime] = utcnow,
        name: str | None = None,
        http: HttpSender | None = None,
    ) -> None:
        """`http` fetches campaigns' content URLs (the gateway's nameservers and private-target
        setting); without one, a sender for public addresses is made per fetch."""
        self.gw = gw
        self.db = gw.db
        self.options = options or SchedulerOptions()
        self.clock = clock
        self.name = name or worker_name()
        self.http = http

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; straight on while there is work, else every poll."""
        try:
            while not stop.is_set():
                try:
                    busy = await self.tick()
                except Exception:
                    log.exception("campaign scheduler tick failed")
                    busy = False
                if not busy:
                    await wait_any(stop, None, self.options.poll_interval)
        finally:
            if self.http is not None:
                await self.http.close()

    async def tick(self) -> bool:
        """One round of starting, queueing and finishing; True when there was work."""
        started = await self.start_due()
        queued = await self.queue_runs()
        finished = await self.finish()
        return bool(started or queued or finished)

    async def start_due(self) -> int:
        now = self.clock()
        started = 0
        for campaign_id in await due_campaigns(self.db, now):
            if await claim_campaign(self.db, campaign_id, now, self.options.start_lease):
                started += await self.start(campaign_id)
        return started

    async def start(self, campaign_id: int) -> int:
        """Build and queue the run's message, then start the run; a campaign that cannot be
        sent (its content, its sender, its audience) fails with the reason."""
        campaign = await schedulable(self.db, campaign_id)
        if campaign is None:
            return 0
        try:
            plan = await run_plan(self.db, campaign.user_id, campaign.audience)
            message = await build_run_message(self.gw, campaign_id, self.http)
        except (CampaignContentError, AudienceError) as refused:
            log.warning("campaign failed campaign=%d reason=%s", campaign_id, refused)
            await fail_campaign(self.db, campaign_id, str(refused))
            return 0
        await self.gw.writer.enqueue(message)
        run_id = await start_run(self.db, campaign_id, message.id, plan)
        if run_id is None:  # canceled or changed while its message was built
            await discard_message(self.db, message.id)
            return 0
        log.info("campaign run started campaign=%d run=%d", campaign_id, run_id)
        return 1

    async def queue_runs(self) -> int:
        """Queue recipients of leased runs for up to `queue_slice` seconds, within their
        accounts' sending limits: a run whose account may send no more now waits
        `limit_wait` before it is looked at again."""
        deadline = time.monotonic() + self.options.queue_slice
        queued = 0
        while time.monotonic() < deadline:
            run_id = await claim_run(self.db, self.name, self.clock(), self.options.run_lease)
            if run_id is None:
                break
            domain_id = await run_sender_domain(self.db, run_id)
            sender = await sender_for_domain(self.gw, domain_id) if domain_id else None
            limited = False
            try:
                while time.monotonic() < deadline:
                    room = await self.gw.limits.room(sender) if sender else None
                    if room == 0:
                        limited = True
                        break
                    size = self.options.batch if room is None else min(room, self.options.batch)
                    result = await queue_batch(self.db, run_id, size, self.clock())
                    if sender is not None:
                        self.gw.limits.note(sender, result.queued)
                    queued += result.queued + 1
                    counted = result.queued + result.skipped_inactive + result.skipped_suppressed
                    if result.finished or not counted + result.duplicates:
                        break  # done, paused meanwhile, or a window of excluded addresses only
            finally:
                later = self.clock() + self.options.limit_wait if limited else None
                await release_run(self.db, run_id, self.name, later)
        return queued

    async def finish(self) -> int:
        """Close finished runs: the campaign is Sent, or Scheduled for its next recurrence."""
        now = self.clock()
        finished = await finish_runs(self.db, now)
        for campaign_id in finished:
            campaign = await schedulable(self.db, campaign_id)
            if campaign is None:
                continue
            await complete_campaign(self.db, campaign_id, self.next_run(campaign, now))
        return len(finished)

    @staticmethod
    def next_run(campaign: Schedulable, now: datetime) -> datetime | None:
        """A recurring campaign's next instant, while it has instances left."""
        if campaign.schedule_type != ScheduleType.RECURSIVE:
            return None
        return next_recurrence(campaign.recurrence, campaign.time_zone, now, campaign.instances)
