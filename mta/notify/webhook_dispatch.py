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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from mta import metrics
from mta.checked_http import Answer, CallFailed, HttpOptions, HttpSender
from mta.worker.leased_worker import LeasedWorker, WorkerLimits
from mta.worker.retry_policy import RetryPolicy
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
SWEEP_INTERVAL = 30.0  # seconds between dropping stale URL checks and idle connections


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

    def limits(self) -> WorkerLimits:
        return WorkerLimits(
            self.batch, self.max_in_flight, self.lease, self.poll_interval, SWEEP_INTERVAL
        )


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


class Dispatcher(LeasedWorker[Claimed, Call, Attempt]):
    def __init__(
        self,
        db: Database,
        options: DispatchOptions,
        sender: HttpSender | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(db, options.limits(), name)
        self.options = options
        self.retry = RetryPolicy(options.retry_schedule)  # after the last wait, a call dies
        self.sender = sender or HttpSender(options.http())
        self.held: dict[int, int] = {}  # webhook id -> calls claimed and not yet recorded
        self.slots: dict[int, asyncio.Semaphore] = {}
        self._unstarted: list[int] = []  # claimed, not called when the stop came: given back

    # -- the worker machine's hooks ----------------------------------------------------------

    async def claim(self, limit: int) -> list[Claimed]:
        """Due calls, none of a webhook whose backlog this dispatcher already holds."""
        busy = [hook for hook, held in self.held.items() if held >= self.options.backlog]
        return await claim_due(self.db, self.name, limit, self.limits.lease, busy)

    async def prepare(self, claimed: list[Claimed]) -> list[Call]:
        calls = await load_calls(self.db, [c.id for c in claimed])
        for call in calls:  # claimed calls missing here went with their deleted webhook
            self.held[call.webhook_id] = self.held.get(call.webhook_id, 0) + 1
        return calls

    async def process(self, item: Call) -> list[Attempt]:
        """The call within its webhook's concurrency; a call not begun when the stop came is
        given back untouched."""
        slot = self.slots.setdefault(item.webhook_id, asyncio.Semaphore(self.options.concurrency))
        async with slot:
            if self.stopping:
                self._unstarted.append(item.id)
                return []
            return [await self.attempt(item)]

    def crashed(self, item: Call, error: Exception) -> list[Attempt]:
        return [self.failed(item, None, f"internal error: {error!r}")]

    def describe(self, item: Call) -> str:
        return f"webhook={item.webhook_id} outbox={item.id}"

    async def record(self, results: list[Attempt]) -> None:
        await record_attempts(self.db, self.name, results)

    def recorded(self, items: Sequence[Call], results: Sequence[Attempt]) -> bool:
        """The calls no longer count against their webhooks; claim again once a busy
        webhook's backlog is down to half, or nothing is in hand."""
        wake = False
        for call in items:
            hook = call.webhook_id
            self.held[hook] -= 1
            if self.held[hook] == 0:
                del self.held[hook]
                self.slots.pop(hook, None)
            wake = wake or self.held.get(hook, 0) == self.options.backlog // 2
        return wake or self.in_flight == 0

    def logged(self, result: Attempt) -> None:
        log_attempt(result)

    async def housekeeping(self) -> None:
        await self.sender.sweep()

    async def stopped(self) -> None:
        await release(self.db, self.name, self._unstarted)

    async def close(self) -> None:
        await self.sender.close()

    # -- one call ----------------------------------------------------------------------------

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
        """Try again after the schedule's wait (longer when the answer's Retry-After asks, up
        to RETRY_AFTER_CAP), or dead-letter after its last."""
        status = answer.status if answer else None
        asked = answer.retry_after if answer is not None else None
        at_least = min(asked, RETRY_AFTER_CAP) if asked is not None else 0.0
        later = self.retry.next_attempt(call.attempts + 1, utcnow(), at_least=at_least)
        if later is None:
            return Attempt(call, OutboxStatus.DEAD, status, response)
        return Attempt(call, OutboxStatus.PENDING, status, response, next_attempt_at=later)


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
