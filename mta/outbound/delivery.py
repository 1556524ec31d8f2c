"""Delivery workers: claim due recipients, send them to their destination's hosts, and record
what happened to each.

A claimed batch is split into jobs: the recipients of one message at one destination domain,
sent in one SMTP transaction. Each job waits for a slot of its destination (a limit on
concurrent sessions and, when configured, on messages per minute), takes a reused session from
the pool or opens one, and produces one outcome per recipient. Outcomes are written in groups,
as the queue writes messages. A crash between sending and recording means a second delivery
after the lease runs out, never a lost message: at least once, as every MTA.

The claiming, running and recording is mta/worker/leased_worker.py's; what is delivery's own is
here: grouping recipients into transactions, routing, the destination limits, and what each reply
means. The units it uses: the VERP return path (mta/verp.py), a tracked recipient's signed
copy (mta/outbound/recipient_copy.py), the SMTP transaction behind mta/outbound/transport.py, and
the retry schedule and queue lifetime (mta/worker/retry_policy.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dns_tools.routing import PermanentRouteError, Route, RouteError, Router, TemporaryRouteError
from mta import metrics
from mta.feedback.bounce_classes import classify, suppresses
from mta.feedback.reasons import Reason
from mta.outbound.recipient_copy import content_for, is_personal
from mta.outbound.transport import (
    Envelope,
    HostUnavailable,
    MailHost,
    OutboundTransport,
    needs_smtputf8,
)
from mta.replies import enhanced_code_of
from mta.verp import verp_sender
from mta.worker.leased_worker import LeasedWorker, WorkerLimits
from mta.worker.retry_policy import RetryPolicy
from storage.engine import Database
from storage.event_payloads import bounce_fields
from storage.models import DeliveryStatus, utcnow
from storage.outbound import (
    AttemptResult,
    Claimed,
    OutboundMessage,
    claim_due,
    load_merge_values,
    load_messages,
    record_outcomes,
    release,
    withdrawn,
)

log = logging.getLogger("mailgate.delivery")

SWEEP_INTERVAL = 1.0  # seconds between closing idle sessions


@dataclass(frozen=True)
class DeliveryOptions:
    hostname: str
    return_path_subdomain: str
    retry_schedule: tuple[float, ...]
    max_lifetime: float
    concurrency: int  # sessions per destination domain
    rate_per_minute: int  # messages per destination domain per minute, 0 for no limit
    batch: int = 500
    max_in_flight: int = 2000
    lease: timedelta = timedelta(minutes=15)
    poll_interval: float = 0.25
    # Signs the tokens of tracked messages (mta/tracking/tokens.py); None: mailgate init not run.
    tracking_key: bytes | None = field(default=None, repr=False)

    def limits(self) -> WorkerLimits:
        return WorkerLimits(
            self.batch, self.max_in_flight, self.lease, self.poll_interval, SWEEP_INTERVAL
        )

    def retry_policy(self) -> RetryPolicy:
        """The schedule's last wait repeats until the message has waited its lifetime."""
        return RetryPolicy(self.retry_schedule, max_age=self.max_lifetime)


class Destination:
    """Limits for one destination domain: concurrent sessions and messages per minute."""

    def __init__(self, concurrency: int, rate_per_minute: int) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.interval = 60.0 / rate_per_minute if rate_per_minute else 0.0
        self.next_start = 0.0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self.slots:
            if self.interval:
                now = time.monotonic()
                start = max(now, self.next_start)
                self.next_start = start + self.interval
                if start > now:
                    await asyncio.sleep(start - now)  # the rate limit, computed
            yield


@dataclass
class Job:
    """The recipients of one message at one destination domain: one transaction."""

    message: OutboundMessage
    domain: str
    deliveries: list[Claimed]
    values: dict[str, str] | None = None  # a campaign recipient's merge values


class DeliveryWorker(LeasedWorker[Claimed, Job, AttemptResult]):
    def __init__(
        self,
        db: Database,
        router: Router,
        transport: OutboundTransport,
        options: DeliveryOptions,
        name: str | None = None,
    ) -> None:
        super().__init__(db, options.limits(), name)
        self.router = router
        self.transport = transport
        self.options = options
        self.retry = options.retry_policy()
        self.destinations: dict[str, Destination] = {}

    # -- the worker machine's hooks ----------------------------------------------------------

    async def claim(self, limit: int) -> list[Claimed]:
        return await claim_due(self.db, self.name, limit, self.limits.lease)

    async def prepare(self, claimed: list[Claimed]) -> list[Job]:
        """The claimed recipients as transactions: per message and destination domain, and one
        per recipient for a tracked message (each gets its own copy)."""
        messages = await load_messages(self.db, list({c.message_id for c in claimed}))
        subscribers = [c.subscriber_id for c in claimed if c.subscriber_id is not None]
        values = await load_merge_values(self.db, subscribers) if subscribers else {}
        jobs: dict[tuple[uuid.UUID, str, int], Job] = {}
        orphans = []
        for delivery in claimed:
            message = messages.get(delivery.message_id)
            if message is None:  # deleted since it was claimed
                orphans.append(delivery)
                continue
            own = delivery.id if is_personal(message) else 0
            key = (delivery.message_id, delivery.recipient_domain, own)
            job = jobs.get(key)
            if job is None:
                job = jobs[key] = Job(message, delivery.recipient_domain, [])
                if delivery.subscriber_id is not None:
                    job.values = values.get(delivery.subscriber_id)
            job.deliveries.append(delivery)
        await release(self.db, self.name, orphans)
        return list(jobs.values())

    def weight(self, item: Job) -> int:
        return len(item.deliveries)

    async def process(self, item: Job) -> list[AttemptResult]:
        return await self.deliver(item)

    def crashed(self, item: Job, error: Exception) -> list[AttemptResult]:
        reply = f"4.3.0 internal error: {error!r}"
        return [self.deferral(item, d, reply, None) for d in item.deliveries]

    def describe(self, item: Job) -> str:
        return f"message={item.message.id} domain={item.domain}"

    async def record(self, results: list[AttemptResult]) -> None:
        await record_outcomes(self.db, self.name, results)

    def logged(self, result: AttemptResult) -> None:
        log_outcome(result)

    async def housekeeping(self) -> None:
        await self.transport.sweep()

    async def close(self) -> None:
        await self.transport.close()

    # -- one job ---------------------------------------------------------------------------

    async def deliver(self, job: Job) -> list[AttemptResult]:
        try:
            route = await self.router.route(job.domain)
        except PermanentRouteError as error:
            return [self.bounce(job, d, str(error), None) for d in job.deliveries]
        except TemporaryRouteError as error:
            return [self.deferral(job, d, str(error), None) for d in job.deliveries]
        destination = self.destinations.get(job.domain)
        if destination is None:
            destination = self.destinations[job.domain] = Destination(
                self.options.concurrency, self.options.rate_per_minute
            )
        async with destination.slot():
            # Looked at here, after the wait for a slot: a campaign's recipient (a job of its
            # own) paused or canceled since the claim is not personalised, signed or sent.
            if job.deliveries[0].subscriber_id is not None and await withdrawn(
                self.db, self.name, job.deliveries
            ):
                return []
            return await self._try_hosts(job, route, self.envelope(job))

    def envelope(self, job: Job) -> Envelope:
        """The job's envelope: its VERP return path, its recipients and what they are sent."""
        first = job.deliveries[0]
        single = first.id if len(job.deliveries) == 1 else None
        recipients = tuple(d.recipient for d in job.deliveries)
        key = self.options.tracking_key
        sender = verp_sender(job.message, self.options.return_path_subdomain, single)
        content = content_for(job.message, first.id, first.recipient, job.values, key)
        return Envelope(sender, recipients, content, needs_smtputf8(sender, recipients, content))

    async def _try_hosts(self, job: Job, route: Route, envelope: Envelope) -> list[AttemptResult]:
        last_error = "4.4.1 no host could be reached"
        last_host: str | None = None
        for host, port in route.hosts:
            last_host = host
            try:
                addresses = await self.router.addresses(host)
            except RouteError as error:
                last_error = str(error)  # this host, not the domain: try the next
                continue
            for address in addresses:
                try:
                    replies = await self.transport.send(MailHost(host, port, address), envelope)
                except HostUnavailable as error:
                    last_error = error.reply
                    continue
                return [
                    self.by_reply(job, d, reply.code, reply.text, host)
                    for d, reply in zip(job.deliveries, replies, strict=True)
                ]
        return [self.deferral(job, d, last_error, last_host) for d in job.deliveries]

    # -- outcomes --------------------------------------------------------------------------

    def _outcome(
        self,
        job: Job,
        delivery: Claimed,
        status: DeliveryStatus,
        reply: str,
        host: str | None,
        **fields: Any,
    ) -> AttemptResult:
        fields.setdefault("enhanced_code", enhanced_code_of(reply))
        return AttemptResult(
            delivery=delivery,
            status=status,
            reply=reply,
            remote_host=host,
            user_id=job.message.user_id,
            sender_domain_id=job.message.sender_domain_id,
            **fields,
        )

    def by_reply(
        self, job: Job, delivery: Claimed, code: int, reply: str, host: str | None
    ) -> AttemptResult:
        """2xx delivered, 5xx bounced, anything else (4xx, no reply) deferred."""
        if 200 <= code < 300:
            return self._outcome(job, delivery, DeliveryStatus.DELIVERED, reply, host)
        if code >= 500:
            return self.bounce(job, delivery, reply, host)
        return self.deferral(job, delivery, reply, host)

    def bounce(self, job: Job, delivery: Claimed, reply: str, host: str | None) -> AttemptResult:
        found = classify(_reply_code(reply, 550), reply)
        return self._outcome(
            job,
            delivery,
            DeliveryStatus.BOUNCED,
            reply,
            host,
            category=found.category,
            enhanced_code=found.enhanced_code,
            suppress=suppresses(found),
            bounce=bounce_fields(
                found.hard, address_suppressed=found.hard and suppresses(found), reason=found.reason
            ),
        )

    def deferral(self, job: Job, delivery: Claimed, reply: str, host: str | None) -> AttemptResult:
        """Try again later, or bounce as expired once the message has waited its lifetime."""
        now = utcnow()
        later = self.retry.next_attempt(delivery.attempts + 1, now, since=delivery.created_at)
        if later is None:
            expired = f"4.4.7 message expired after {self.options.max_lifetime:.0f}s: {reply}"
            return self._outcome(
                job,
                delivery,
                DeliveryStatus.BOUNCED,
                expired,
                host,
                category="message-expired",
                enhanced_code="4.4.7",
                bounce=bounce_fields(hard=False, reason=Reason.EXPIRED),
            )
        return self._outcome(
            job,
            delivery,
            DeliveryStatus.DEFERRED,
            reply,
            host,
            category=classify(_reply_code(reply, 0), reply).category,
            next_attempt_at=later,
        )


def _reply_code(reply: str, default: int) -> int:
    """The reply's 3-digit code; our own texts (DNS, connection failures) have none."""
    return int(reply[:3]) if reply[:3].isdigit() else default


def log_outcome(outcome: AttemptResult) -> None:
    delivery = outcome.delivery
    metrics.DELIVERY_OUTCOMES.labels(str(outcome.status)).inc()
    if outcome.status is DeliveryStatus.DELIVERED:
        metrics.DELIVERY_LATENCY.observe((utcnow() - delivery.created_at).total_seconds())
    log.info(
        "%s message=%s to=<%s> host=%s category=%s reply=%r",
        outcome.status,
        delivery.message_id,
        delivery.recipient,
        outcome.remote_host,
        outcome.category,
        outcome.reply[:300],
    )
