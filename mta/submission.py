"""The one path a message takes into the queue, from SMTP and HTTP alike.

    sender check -> recipient checks -> content checks -> added headers -> tracking -> DKIM
    -> durable queue

A tracked message is stored unsigned, marked for the delivery worker to personalise and sign
per recipient (mta/tracking.py); any other is signed here once.

Each step is a short named function; a refusal is a `SubmissionRefused` carrying the policy
reason, which each surface words in its own way (an SMTP reply, an API error code).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cachetools import TTLCache

from mta import replies
from mta.assembly import (
    HeaderSummary,
    MalformedHeader,
    domain_of,
    has_bare_line_ending,
    missing_headers,
    read_headers,
    received_header,
)
from mta.dkim_signing import dkim_signature
from mta.inbound import process_report, unsubscribe_by_mail
from mta.policy import Refusal, address_refusal, sender_refusal
from mta.sending_limits import SendingLimits
from mta.tracking import TrackingRequest, TrackingSettings, plan_for, prepare
from storage.domains import SenderContext, is_inbound_relay_domain, sender_for_address_domain
from storage.domains import sender_by_domain_id as _sender_by_domain_id
from storage.engine import Database
from storage.models import utcnow
from storage.queue import NewMessage, QueueWriter
from storage.suppressions import suppression_reason


class SubmissionRefused(Exception):
    """A permanent or temporary refusal, with the SMTP reply that states it."""

    def __init__(self, reply: str, refusal: Refusal | None = None) -> None:
        super().__init__(reply)
        self.reply = reply
        self.refusal = refusal


@dataclass(frozen=True)
class Origin:
    """Where a message came from, for its `Received:` header."""

    helo: str
    client_ip: str
    protocol: str


log = logging.getLogger("mailgate.smtp")

SENDER_CACHE_SECONDS = 1.0
# An entry can expire between a membership test and a read, so the cache is read once, with this
# default standing for "not cached" (None is a cached "no such domain").
_UNKNOWN: Any = object()


@dataclass
class Gateway:
    """What the submission path needs: the store, the queue writer and a few settings.

    Sender domains are looked up for every message; the answers are kept for one second, so a
    domain disabled (or enabled) takes effect within a second without a query per message.
    """

    db: Database
    writer: QueueWriter
    hostname: str
    hop_limit: int
    soft_bounce_limit: int = 3
    tracking: TrackingSettings | None = None  # None: no tracking, no List-Unsubscribe
    senders: TTLCache[tuple[str, object], SenderContext | None] = field(
        default_factory=lambda: TTLCache(maxsize=10_000, ttl=SENDER_CACHE_SECONDS)
    )
    limits: SendingLimits = field(init=False)

    def __post_init__(self) -> None:
        self.limits = SendingLimits(self.db)

    @classmethod
    def configured(cls, db: Database, writer: QueueWriter, settings: Any) -> Gateway:
        """The gateway as the settings of `mailgate serve` (mailgate/config.py) describe it."""
        return cls(
            db,
            writer,
            settings.hostname,
            settings.hop_limit,
            settings.soft_bounce_limit,
            tracking=TrackingSettings.of(settings),
        )


def _refuse(refusal: Refusal, detail: str = "") -> SubmissionRefused:
    return SubmissionRefused(refusal.reply(detail), refusal)


async def sender_for_domain(gw: Gateway, domain_id: int) -> SenderContext | None:
    """A sender domain with its owner's state, as of at most a second ago."""
    key = ("id", domain_id)
    sender = gw.senders.get(key, _UNKNOWN)
    if sender is _UNKNOWN:
        sender = gw.senders[key] = await _sender_by_domain_id(gw.db, domain_id)
    return sender


async def sender_by_domain_id(gw: Gateway, domain_id: int, mail_from: str) -> SenderContext:
    """The sender for an authenticated credential, checked against the envelope sender."""
    sender = await sender_for_domain(gw, domain_id)
    check_sender(sender, [mail_from])
    assert sender is not None
    return sender


async def sender_by_address(gw: Gateway, mail_from: str) -> SenderContext:
    """The sender for a relay-network client: the registered domain of the envelope sender."""
    if "@" not in mail_from:
        raise _refuse(Refusal.INVALID_SENDER_DOMAIN, "a sender address is required")
    key = ("name", domain_of(mail_from))
    sender = gw.senders.get(key, _UNKNOWN)
    if sender is _UNKNOWN:
        sender = gw.senders[key] = await sender_for_address_domain(gw.db, key[1])
    check_sender(sender, [mail_from])
    assert sender is not None
    return sender


def check_sender(sender: SenderContext | None, addresses: Sequence[str]) -> None:
    refusal = sender_refusal(sender)
    if refusal is None and sender is not None:
        refusal = address_refusal(sender, [domain_of(a) for a in addresses if "@" in a])
        if refusal is not None:
            raise _refuse(refusal, f"{', '.join(addresses)} not in {sender.domain}")
    if refusal is not None:
        domain = sender.domain if sender else ", ".join(domain_of(a) for a in addresses)
        raise _refuse(refusal, domain)


async def check_recipient(gw: Gateway, sender: SenderContext | None, recipient: str) -> None:
    """Outbound: the recipient is not suppressed. Inbound: the domain is one we relay for."""
    if sender is None:
        if not await is_inbound_relay_domain(gw.db, domain_of(recipient)):
            raise _refuse(Refusal.RELAY_DENIED, f"<{recipient}>")
        return
    reason = await suppression_reason(gw.db, recipient, sender.user_id, sender.domain_id)
    if reason is not None:
        raise _refuse(Refusal.RECIPIENT_SUPPRESSED, f"<{recipient}> ({reason})")


async def split_suppressed(
    gw: Gateway, sender: SenderContext, recipients: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(accepted, suppressed): the API surfaces queue a message to the recipients that may have
    it and name the others, where SMTP refuses each suppressed RCPT on its own."""
    accepted, suppressed = [], []
    for recipient in recipients:
        try:
            await check_recipient(gw, sender, recipient)
            accepted.append(recipient)
        except SubmissionRefused as refused:
            if refused.refusal is not Refusal.RECIPIENT_SUPPRESSED:
                raise
            suppressed.append(recipient)
    return accepted, suppressed


def check_content(gw: Gateway, sender: SenderContext | None, content: bytes) -> HeaderSummary:
    if has_bare_line_ending(content):
        raise SubmissionRefused(replies.BARE_LINE_ENDING)
    try:
        summary = read_headers(content, strict=sender is not None)
    except MalformedHeader as error:
        raise SubmissionRefused(replies.MALFORMED_HEADER.detailed(str(error))) from None
    if summary.hops >= gw.hop_limit:
        raise SubmissionRefused(replies.TOO_MANY_HOPS)
    if sender is not None:
        if not summary.from_addresses:
            raise SubmissionRefused(replies.MISSING_FROM_HEADER)
        check_sender(sender, summary.from_addresses + summary.sender_addresses)
    return summary


def added_headers(
    gw: Gateway,
    sender: SenderContext | None,
    summary: HeaderSummary,
    origin: Origin,
    queue_id: str,
    now: datetime,
) -> bytes:
    received = received_header(
        origin.helo, origin.client_ip, gw.hostname, origin.protocol, queue_id, now
    )
    if sender is None:
        return received
    return received + missing_headers(summary, queue_id, sender.domain, now)


def tracked(
    gw: Gateway,
    sender: SenderContext | None,
    message: bytes,
    queue_id: uuid.UUID,
    request: TrackingRequest | None,
    keep: Sequence[str] = (),
) -> bytes | None:
    """The message with tracking and List-Unsubscribe, marked for personalisation; None when
    the sender and the message ask for none of it (or none of it applies). `keep`: other
    placeholders (a campaign's merge tags) that must stay whole."""
    if sender is None or gw.tracking is None:
        return None
    plan = plan_for(gw.tracking, sender, request)
    return None if plan is None else prepare(gw.tracking, plan, message, queue_id, keep)


def sign(sender: SenderContext | None, message: bytes) -> bytes:
    if sender is None:
        return b""
    return dkim_signature(message, sender.domain, sender.dkim_selector, sender.dkim_private_key)


async def submit(
    gw: Gateway,
    sender: SenderContext | None,
    mail_from: str,
    recipients: Sequence[str],
    content: bytes,
    origin: Origin,
    source: str,
    tags: Sequence[str] = (),
    send_at: datetime | None = None,
    queue_id: uuid.UUID | None = None,
    tracking: TrackingRequest | None = None,
) -> uuid.UUID:
    """Check, complete, sign and durably queue one message; returns its id once committed.
    `queue_id` lets a caller name the message (an idempotent retry of an API call);
    `tracking`, the message's own tracking choices over its domain's.

    `sender` None means inbound mail for one of our relay domains (bounces, complaints): it is
    stored for processing, not relayed.
    """
    summary = check_content(gw, sender, content)
    if sender is not None and not await gw.limits.reserve(sender, len(recipients)):
        raise _refuse(Refusal.SEND_LIMIT, sender.domain)
    try:
        return await _queue(gw, sender, mail_from, recipients, content, summary, origin, source,
                            tags, send_at, queue_id, tracking)  # fmt: skip
    except BaseException:
        if sender is not None:
            gw.limits.release(sender, len(recipients))
        raise


async def _queue(
    gw: Gateway,
    sender: SenderContext | None,
    mail_from: str,
    recipients: Sequence[str],
    content: bytes,
    summary: HeaderSummary,
    origin: Origin,
    source: str,
    tags: Sequence[str],
    send_at: datetime | None,
    queue_id: uuid.UUID | None,
    tracking: TrackingRequest | None = None,
) -> uuid.UUID:
    queue_id = queue_id or uuid.uuid4()
    now = utcnow()
    message = added_headers(gw, sender, summary, origin, str(queue_id), now) + content
    personal = tracked(gw, sender, message, queue_id, tracking)
    message = sign(sender, message) + message if personal is None else personal
    await gw.writer.enqueue(
        NewMessage(
            id=queue_id,
            mail_from=mail_from,
            recipients=list(recipients),
            raw=message,
            source=source if sender else "inbound",
            user_id=sender.user_id if sender else None,
            sender_domain_id=sender.domain_id if sender else None,
            header_from=summary.header_from,
            subject=summary.subject,
            message_id_header=summary.message_id or f"<{queue_id}@{sender.domain}>"
            if sender
            else summary.message_id,
            client_ip=origin.client_ip,
            tags=list(tags),
            send_at=send_at,
            queue_deliveries=sender is not None,
        )
    )
    if sender is None:
        await read_inbound_report(gw, queue_id, message, recipients)
    return queue_id


async def read_inbound_report(
    gw: Gateway, queue_id: uuid.UUID, message: bytes, recipients: Sequence[str]
) -> None:
    """A bounce or complaint for our return-path domains becomes events and suppressions, and
    mail to an unsubscribe address unsubscribes. The message is stored already; a failure here
    is logged, never a refusal of the report."""
    try:
        key = gw.tracking.key if gw.tracking else None
        if key is not None and await unsubscribe_by_mail(gw.db, key, recipients):
            return
        await process_report(gw.db, queue_id, message, recipients, gw.soft_bounce_limit)
    except Exception:
        log.exception("reading inbound report failed message=%s", queue_id)
