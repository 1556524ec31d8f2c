"""The webhook dispatcher: claims due calls from the outbox, POSTs each event as signed JSON to
its webhook's URL, and records what happened.

Signing follows Standard Webhooks: `webhook-id` (the outbox row, the same on every retry, so
receivers can drop duplicates), `webhook-timestamp` (Unix seconds of this attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{body}"` keyed with the
domain's signing key (the base64 after `whsec_`), so receivers can use the existing verifiers.

Outcomes: 2xx delivered; 410 Gone disables the webhook and its pending calls die; anything else,
a timeout or a refused target is tried again after the retry schedule's wait (with 10% jitter;
longer when the answer's Retry-After asks, up to an hour), and after the schedule's last wait
the call is dead-lettered (`mailgate webhooks replay` sends it again).

Each webhook has its own concurrency limit, and a dispatcher claims no more calls of a webhook
whose backlog it already holds: a slow receiver waits on its own calls, not the others'. Every
call checks its URL again (mta/checked_http: dns_tools.public_targets, shared for a few seconds
among the calls to one URL) and connects to an address that was checked, with the URL's host
kept for the Host header and for TLS (SNI and certificate); redirects are not followed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from mta import metrics
from mta.checked_http import Answer, CallFailed, HttpOptions, HttpSender
from mta.delivery import _wait_any, worker_name
from storage.engine import Database
from storage.event_names import legacy_name
from storage.models import OutboxStatus, utcnow
from storage.webhook_outbox import (
    Attempt,
    Call,
    Claimed,
    claim_due,
    load_calls,
    record_attempts,
    release,
)

log = logging.getLogger("mailgate.webhooks")

RETRY_AFTER_CAP = 3600.0  # seconds: a Retry-After beyond this is read as this
USER_AGENT = "Mailgate-Webhooks/1"


@dataclass(frozen=True)
class DispatchOptions:
    # Waits between attempts (the first attempt is immediate); after the last, a call dies.
    retry_schedule: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
    nameservers: tuple[tuple[str, int], ...] = ()
    allow_private: bool = False
    timeout: float = 10.0  # seconds for a whole call, connecting to the end of the answer
    concurrency: int = 10  # calls at once per webhook
    backlog: int = 100  # calls of one webhook held before claiming more of it
    batch: int = 200
    max_in_flight: int = 2000
    lease: timedelta = timedelta(minutes=15)
    poll_interval: float = 0.2
    check_ttl: float = 5.0  # seconds a URL check is shared among calls to that URL

    def http(self) -> HttpOptions:
        return HttpOptions(self.nameservers, self.allow_private, self.timeout, self.check_ttl)


# -- what is sent --------------------------------------------------------------------------


def signing_secret(key: str) -> bytes:
    """The HMAC key of a `whsec_...` signing key: the bytes its base64 stands for."""
    return base64.b64decode(key.removeprefix("whsec_"))


def signature(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_message_id(call: Call) -> str:
    """The `webhook-id` of a call: its outbox row, stable across retries and replays."""
    return f"msg_{call.id}"


def payload(call: Call) -> dict[str, Any]:
    """The JSON an endpoint receives: the event under both names, its time, the message and
    recipient, the message's tags, campaign and headers (as the events API shows them), the
    receiving server's reply (deliveries, bounces) or the link (clicks), and all recorded."""
    data = call.data
    return {
        "event": call.event_type,  # the /api/v1 name: delivered, bounced, opened, ...
        "legacy_event": legacy_name(call.event_type),  # /api.php's: delivery, bounce, open, ...
        "event_id": f"evt_{call.event_id}",
        "timestamp": int(call.event_time.timestamp()),
        "time": call.event_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "message_id": str(call.message_id) if call.message_id else None,
        "recipient": call.recipient,
        "tags": call.tags,
        "campaign_id": call.campaign_id,  # as Campaign.* number it; None outside campaigns
        "reply": data.get("reply"),
        "link": data.get("link") or data.get("url"),
        "headers": {"From": call.header_from, "To": call.recipient, "Subject": call.subject},
        "details": {name: value for name, value in data.items() if value is not None},
    }


def signed_request(call: Call, now: float | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload(call), separators=(",", ":"), ensure_ascii=False).encode()
    message_id = webhook_message_id(call)
    timestamp = int(now if now is not None else time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            signing_secret(call.signing_key), message_id, timestamp, body
        ),
    }
    return body, headers


# -- the dispatcher ------------------------------------------------------------------------


class Dispatcher:
    def __init__(
        self,
        db: Database,
        options: DispatchOptions,
        sender: HttpSender | None = None,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.options = options
        self.sender = sender or HttpSender(options.http())
        self.name = name or worker_name()
        self.held: dict[int, int] = {}  # webhook id -> calls claimed and not yet recorded
        self.slots: dict[int, asyncio.Semaphore] = {}
        self.in_flight = 0
        self._attempts: list[Attempt] = []
        self._attempts_ready = asyncio.Event()
        self._room = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._unstarted: list[int] = []  # claimed, not called when the stop came: given back

    async def run(self, stop: asyncio.Event) -> None:
        """Call webhooks until `stop` is set; then finish the calls in flight and record them."""
        recorder = asyncio.create_task(self._record_loop(stop), name="webhook-recorder")
        sweeper = asyncio.create_task(self._sweep_loop(stop), name="webhook-sweeper")
        try:
            while not stop.is_set():
                room = self.options.max_in_flight - self.in_flight
                busy = [hook for hook, held in self.held.items() if held >= self.options.backlog]
                claimed = []
                if room > 0:
                    limit = min(room, self.options.batch)
                    claimed = await claim_due(self.db, self.name, limit, self.options.lease, busy)
                if not claimed:
                    self._room.clear()
                    await _wait_any(stop, self._room, self.options.poll_interval)
                    continue
                await self._start(claimed)
            self._stopping = True
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await release(self.db, self.name, self._unstarted)
        finally:
            self._attempts_ready.set()
            await recorder
            sweeper.cancel()
            await self.sender.close()

    async def _start(self, claimed: list[Claimed]) -> None:
        calls = await load_calls(self.db, [c.id for c in claimed])
        for call in calls:  # claimed calls missing here went with their deleted webhook
            self.held[call.webhook_id] = self.held.get(call.webhook_id, 0) + 1
            self.in_flight += 1
            task = asyncio.create_task(self._run_call(call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_call(self, call: Call) -> None:
        slot = self.slots.setdefault(call.webhook_id, asyncio.Semaphore(self.options.concurrency))
        try:
            async with slot:
                if self._stopping:
                    self._unstarted.append(call.id)
                    return
                attempt = await self.attempt(call)
        except Exception as error:  # a bug must not lose the call: try it again later
            log.exception("webhook call failed webhook=%d outbox=%d", call.webhook_id, call.id)
            attempt = self.failed(call, None, f"internal error: {error!r}")
        self._attempts.append(attempt)
        self._attempts_ready.set()

    def _done(self, attempts: list[Attempt]) -> None:
        """The calls' results are stored: they no longer count against their webhooks."""
        for attempt in attempts:
            hook = attempt.call.webhook_id
            self.held[hook] -= 1
            self.in_flight -= 1
            if self.held[hook] == 0:
                del self.held[hook]
                self.slots.pop(hook, None)
            if self.held.get(hook, 0) == self.options.backlog // 2 or self.in_flight == 0:
                self._room.set()

    async def attempt(self, call: Call) -> Attempt:
        if not call.enabled:
            reason = "not called: the webhook is disabled (its endpoint answered 410 Gone)"
            return Attempt(call, OutboxStatus.DEAD, None, reason)
        body, headers = signed_request(call)
        try:
            answer = await self.sender.post(call.url, body, headers)
        except CallFailed as failure:
            return self.failed(call, None, str(failure))
        if 200 <= answer.status < 300:
            return Attempt(call, OutboxStatus.DELIVERED, answer.status, answer.text)
        if answer.status == 410:
            return Attempt(call, OutboxStatus.DEAD, 410, answer.text, gone=True)
        return self.failed(call, answer, answer.text)

    def failed(self, call: Call, answer: Answer | None, response: str) -> Attempt:
        """Try again after the schedule's wait, or dead-letter after its last."""
        status = answer.status if answer else None
        made = call.attempts + 1
        schedule = self.options.retry_schedule
        if made > len(schedule):
            return Attempt(call, OutboxStatus.DEAD, status, response)
        delay = schedule[made - 1] * random.uniform(0.9, 1.1)
        if answer is not None and answer.retry_after is not None:
            delay = max(delay, min(answer.retry_after, RETRY_AFTER_CAP))
        later = utcnow() + timedelta(seconds=delay)
        return Attempt(call, OutboxStatus.PENDING, status, response, next_attempt_at=later)

    async def _record_loop(self, stop: asyncio.Event) -> None:
        while True:
            await self._attempts_ready.wait()
            self._attempts_ready.clear()
            while self._attempts:
                group, self._attempts = self._attempts, []
                try:
                    await record_attempts(self.db, self.name, group)
                except Exception:
                    # The leases run out and the calls are made again: at least once.
                    log.exception("recording %d webhook calls failed", len(group))
                self._done(group)
                for attempt in group:
                    log_attempt(attempt)
            if stop.is_set() and not self._tasks:
                return

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait_any(stop, None, 30.0)
            await self.sender.sweep()


RESULTS = {OutboxStatus.DELIVERED: "delivered", OutboxStatus.PENDING: "retry"}


def log_attempt(attempt: Attempt) -> None:
    call = attempt.call
    result = "gone" if attempt.gone else RESULTS.get(attempt.status, "dead")
    metrics.WEBHOOK_CALLS.labels(result).inc()
    later = attempt.next_attempt_at.isoformat() if attempt.next_attempt_at else None
    log.info(
        "webhook call result=%s webhook=%d outbox=%d event=%d attempt=%d http=%s next=%s "
        "response=%r",
        result,
        call.webhook_id,
        call.id,
        call.event_id,
        call.attempts + 1,
        attempt.http_status,
        later,
        attempt.response[:200],
    )
