"""Delivery workers: claim due recipients, send them to their destination's hosts, and record
what happened to each.

A claimed batch is split into jobs: the recipients of one message at one destination domain,
sent in one SMTP transaction. Each job waits for a slot of its destination (a limit on
concurrent sessions and, when configured, on messages per minute), takes a reused session from
the pool or opens one, and produces one outcome per recipient. Outcomes are written in groups,
as the queue writes messages. A crash between sending and recording means a second delivery
after the lease runs out, never a lost message: at least once, as every MTA.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiosmtplib

from dns_tools.routing import PermanentRouteError, Route, RouteError, Router, TemporaryRouteError
from mta import metrics
from mta.bounce_classes import classify, enhanced_code_of, suppresses
from mta.dkim_signing import dkim_signature
from mta.merge_tags import merge, needs_merging
from mta.outbound_sessions import Session, SessionOpenError, SessionPool
from mta.tracking import needs_personalising, personalise
from storage.engine import Database
from storage.models import DeliveryStatus, utcnow
from storage.outbound import (
    Claimed,
    OutboundMessage,
    Outcome,
    claim_due,
    load_merge_values,
    load_messages,
    record_outcomes,
    release,
    withdrawn,
)

log = logging.getLogger("mailgate.delivery")


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
    # Signs the tokens of tracked messages (mta/tracking_tokens.py); None: mailgate init not run.
    tracking_key: bytes | None = field(default=None, repr=False)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def verp_sender(
    message: OutboundMessage, default_subdomain: str, delivery_id: int | None = None
) -> str:
    """`b.<message id>.<delivery id>@<return-path domain>` for a transaction with one
    recipient, `b.<message id>@...` for several (a DSN then names its recipient): a bounce to
    it maps back to the message and recipient. Mail without a sender domain keeps its sender."""
    if message.sender_domain is None:
        return message.mail_from
    subdomain = message.return_path_subdomain or default_subdomain
    token = message.id.hex if delivery_id is None else f"{message.id.hex}.{delivery_id}"
    return f"b.{token}@{subdomain}.{message.sender_domain}"


def parse_verp(local_part: str) -> uuid.UUID | None:
    """The message id in a VERP local part, or None when it is not one of ours."""
    prefix, _, token = local_part.partition(".")
    if prefix.lower() != "b":
        return None
    try:
        return uuid.UUID(hex=token.split(".", 1)[0])
    except ValueError:
        return None


def parse_verp_delivery(address: str) -> int | None:
    """The delivery id in a VERP address (`b.<message>.<delivery>@...`), when it names one."""
    local = address.rpartition("@")[0]
    if parse_verp(local) is None:
        return None
    parts = local.split(".")
    return int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None


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
    message: OutboundMessage
    domain: str
    deliveries: list[Claimed]
    content: bytes = b""  # what is sent: the stored message, or the recipient's own copy
    values: dict[str, str] | None = None  # a campaign recipient's merge values


class NoTrackingKey(Exception):
    """A tracked message cannot be personalised without the tracking key."""


def job_content(job: Job, key: bytes | None) -> bytes:
    """The stored message; for a tracked one (a job of one recipient), that recipient's copy,
    with its tokens (and a campaign's merge values), signed with the sender domain's key."""
    message = job.message
    if not needs_personalising(message.raw):
        return message.raw
    if key is None:
        raise NoTrackingKey("no conversion key to sign tracking tokens: run mailgate init")
    [delivery] = job.deliveries
    content = personalise(message.raw, delivery.id, key)
    if needs_merging(content):
        content = merge(content, delivery.recipient, job.values)
    if message.sender_domain and message.dkim_selector and message.dkim_private_key:
        signature = dkim_signature(
            content, message.sender_domain, message.dkim_selector, message.dkim_private_key
        )
        content = signature + content
    return content


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        router: Router,
        pool: SessionPool,
        options: DeliveryOptions,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.router = router
        self.pool = pool
        self.options = options
        self.name = name or worker_name()
        self.destinations: dict[str, Destination] = {}
        self.in_flight = 0
        self._outcomes: list[Outcome] = []
        self._outcomes_ready = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then finish the jobs in flight and record them."""
        recorder = asyncio.create_task(self._record_loop(stop), name="delivery-recorder")
        sweeper = asyncio.create_task(self._sweep_loop(stop), name="session-sweeper")
        try:
            while not stop.is_set():
                room = self.options.max_in_flight - self.in_flight
                if room <= 0:
                    self._slot_freed.clear()
                    await _wait_any(stop, self._slot_freed, None)
                    continue
                claimed = await claim_due(
                    self.db, self.name, min(room, self.options.batch), self.options.lease
                )
                if not claimed:
                    await _wait_any(stop, None, self.options.poll_interval)
                    continue
                await self._start_jobs(claimed)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self._outcomes_ready.set()
            await recorder
            sweeper.cancel()
            await self.pool.close()

    async def _start_jobs(self, claimed: list[Claimed]) -> None:
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
            # A tracked message is a copy of its own per recipient: one transaction each.
            own = delivery.id if needs_personalising(message.raw) else 0
            key = (delivery.message_id, delivery.recipient_domain, own)
            job = jobs.get(key)
            if job is None:
                job = jobs[key] = Job(message, delivery.recipient_domain, [])
                if delivery.subscriber_id is not None:
                    job.values = values.get(delivery.subscriber_id)
            job.deliveries.append(delivery)
        await release(self.db, self.name, orphans)
        for job in jobs.values():
            self.in_flight += len(job.deliveries)
            task = asyncio.create_task(self._run_job(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_job(self, job: Job) -> None:
        try:
            outcomes = await self.deliver(job)
        except Exception as error:  # a bug must not lose the recipients: defer them
            log.exception("delivery job failed message=%s", job.message.id)
            outcomes = [
                self.deferral(job, d, f"4.3.0 internal error: {error!r}", None)
                for d in job.deliveries
            ]
        self._outcomes.extend(outcomes)
        self._outcomes_ready.set()
        self.in_flight -= len(job.deliveries)
        self._slot_freed.set()

    async def _record_loop(self, stop: asyncio.Event) -> None:
        while True:
            await self._outcomes_ready.wait()
            self._outcomes_ready.clear()
            while self._outcomes:
                group, self._outcomes = self._outcomes, []
                try:
                    await record_outcomes(self.db, self.name, group)
                except Exception:
                    # The leases run out and the recipients are tried again: at least once.
                    log.exception("recording %d outcomes failed", len(group))
                for outcome in group:
                    log_outcome(outcome)
            if stop.is_set() and not self._tasks:
                return

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait_any(stop, None, 1.0)
            self.pool.sweep()

    # -- one job ---------------------------------------------------------------------------

    async def deliver(self, job: Job) -> list[Outcome]:
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
            job.content = job_content(job, self.options.tracking_key)
            return await self._try_hosts(job, route)

    async def _try_hosts(self, job: Job, route: Route) -> list[Outcome]:
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
                outcomes, error_reply = await self._try_address(job, host, port, address)
                if outcomes is not None:
                    return outcomes
                last_error = error_reply
        return [self.deferral(job, d, last_error, last_host) for d in job.deliveries]

    async def _try_address(
        self, job: Job, host: str, port: int, address: str
    ) -> tuple[list[Outcome] | None, str]:
        """The job's outcomes from this address, or None and why it could not be used."""
        last_error = ""
        for _ in range(2):  # a reused session may have gone stale: one fresh retry
            try:
                session, reused = await self.pool.get(host, port, address)
            except SessionOpenError as error:
                if error.code >= 500:  # a 5xx greeting: this host refuses us for good
                    return [self.bounce(job, d, error.reply, host) for d in job.deliveries], ""
                return None, error.reply
            try:
                outcomes = await self.transaction(job, session)
            except _StaleSession as error:
                self.pool.discard(session)
                last_error = str(error)
                if reused:
                    continue
                return None, last_error
            self.pool.put(session) if session.usable else self.pool.discard(session)
            return outcomes, ""
        return None, last_error

    async def transaction(self, job: Job, session: Session) -> list[Outcome]:
        """MAIL, RCPT for each recipient, DATA: one outcome per recipient."""
        smtp, host = session.smtp, session.host
        single = job.deliveries[0].id if len(job.deliveries) == 1 else None
        sender = verp_sender(job.message, self.options.return_path_subdomain, single)
        options = self._mail_options(job, smtp)
        try:
            await smtp.mail(sender, options=options, encoding="utf-8")
        except aiosmtplib.SMTPResponseException as error:
            reply = f"{error.code} {error.message}"
            await _reset(smtp)
            return [self.by_reply(job, d, error.code, reply, host) for d in job.deliveries]
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as error:
            raise _StaleSession(f"4.4.2 {host}: connection lost before MAIL: {error}") from None
        outcomes: list[Outcome] = []
        accepted: list[Claimed] = []
        try:
            for delivery in job.deliveries:
                try:
                    await smtp.rcpt(delivery.recipient, encoding="utf-8")
                    accepted.append(delivery)
                except aiosmtplib.SMTPResponseException as error:
                    reply = f"{error.code} {error.message}"
                    outcomes.append(self.by_reply(job, delivery, error.code, reply, host))
            if not accepted:
                await _reset(smtp)
                return outcomes
            try:
                response = await smtp.data(job.content)
            except aiosmtplib.SMTPResponseException as error:
                reply = f"{error.code} {error.message}"
                return outcomes + [self.by_reply(job, d, error.code, reply, host) for d in accepted]
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as error:
            session.close()
            # After RCPT or during DATA the message may or may not have arrived: defer, as
            # Postfix does; a duplicate is better than a loss.
            reply = f"4.4.2 {host}: connection lost during the transaction: {error}"
            done = {o.delivery.id for o in outcomes}
            return outcomes + [
                self.deferral(job, d, reply, host) for d in job.deliveries if d.id not in done
            ]
        reply = f"{response.code} {response.message}"
        return outcomes + [self.delivered(job, d, reply, host) for d in accepted]

    def _mail_options(self, job: Job, smtp: aiosmtplib.SMTP) -> list[str]:
        options = [f"SIZE={len(job.content)}"] if smtp.supports_extension("size") else []
        if smtp.supports_extension("8bitmime") and not job.content.isascii():
            options.append("BODY=8BITMIME")
        addresses = [job.message.mail_from, *(d.recipient for d in job.deliveries)]
        if smtp.supports_extension("smtputf8") and not all(a.isascii() for a in addresses):
            options.append("SMTPUTF8")
        return options

    # -- outcomes --------------------------------------------------------------------------

    def _outcome(
        self,
        job: Job,
        delivery: Claimed,
        status: DeliveryStatus,
        reply: str,
        host: str | None,
        **fields: Any,
    ) -> Outcome:
        fields.setdefault("enhanced_code", enhanced_code_of(reply))
        return Outcome(
            delivery=delivery,
            status=status,
            reply=reply,
            remote_host=host,
            user_id=job.message.user_id,
            sender_domain_id=job.message.sender_domain_id,
            **fields,
        )

    def delivered(self, job: Job, delivery: Claimed, reply: str, host: str | None) -> Outcome:
        return self._outcome(job, delivery, DeliveryStatus.DELIVERED, reply, host)

    def by_reply(
        self, job: Job, delivery: Claimed, code: int, reply: str, host: str | None
    ) -> Outcome:
        if code >= 500:
            return self.bounce(job, delivery, reply, host)
        return self.deferral(job, delivery, reply, host)

    def bounce(self, job: Job, delivery: Claimed, reply: str, host: str | None) -> Outcome:
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
            data={
                "bounce_type": "hard" if found.hard else "soft",
                "address_suppressed": found.hard and suppresses(found),
            },
        )

    def deferral(self, job: Job, delivery: Claimed, reply: str, host: str | None) -> Outcome:
        """Try again later, or bounce as expired once the message has waited its lifetime."""
        now = utcnow()
        expires = delivery.created_at + timedelta(seconds=self.options.max_lifetime)
        if now >= expires:
            expired = f"4.4.7 message expired after {self.options.max_lifetime:.0f}s: {reply}"
            return self._outcome(
                job,
                delivery,
                DeliveryStatus.BOUNCED,
                expired,
                host,
                category="message-expired",
                enhanced_code="4.4.7",
                data={"bounce_type": "soft"},
            )
        return self._outcome(
            job,
            delivery,
            DeliveryStatus.DEFERRED,
            reply,
            host,
            category=classify(_reply_code(reply, 0), reply).category,
            next_attempt_at=min(expires, now + self.backoff(delivery.attempts)),
        )

    def backoff(self, attempts: int) -> timedelta:
        """The schedule's delay for this attempt, with 10% jitter so retries do not bunch."""
        schedule = self.options.retry_schedule
        delay = schedule[min(attempts, len(schedule) - 1)]
        return timedelta(seconds=delay * random.uniform(0.9, 1.1))


def _reply_code(reply: str, default: int) -> int:
    """The reply's 3-digit code; our own texts (DNS, connection failures) have none."""
    return int(reply[:3]) if reply[:3].isdigit() else default


class _StaleSession(Exception):
    pass


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await smtp.rset()


async def _wait_any(stop: asyncio.Event, other: asyncio.Event | None, within: float | None) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waiters.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def log_outcome(outcome: Outcome) -> None:
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
