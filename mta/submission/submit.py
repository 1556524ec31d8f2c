"""The one path a message takes into the queue, from SMTP and HTTP alike.

    size -> sender (domain, its owner, the envelope sender) -> content (line endings, header
    syntax, hops, From rules) -> recipients (syntax, count, relay domain or suppression)
    -> sending limit -> added headers -> tracking -> DKIM -> durable queue

A tracked message is stored unsigned, marked for the delivery worker to personalise and sign
per recipient (mta/tracking/rewrite.py); any other is signed here once.

Each step is a short named function; a refusal is a `SubmissionRefused` carrying its `Reason`
(one of `replies.SUBMISSION_REASONS`) and a detail, which each surface words through its own
one table (an SMTP reply, an smtprelay ErrorCode, an /api/v1 or /rest code). `submit` enforces
every rule whatever the surface; a surface may refuse earlier by calling the same functions
(SMTP at MAIL and RCPT: `sender_by_domain_id`, `admit`; the APIs: `check_sender`, `screen`).
The limits are the gateway's (`Gateway.configured` reads them from the settings).
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from cachetools import TTLCache

from mta.feedback.inbound import process_report, unsubscribe_by_mail
from mta.replies import SUBMISSION_REASONS, SUBMISSION_REPLIES, Reason, Refused
from mta.submission.assembly import (
    HeaderSummary,
    MalformedHeader,
    domain_of,
    has_bare_line_ending,
    missing_headers,
    read_headers,
    received_header,
)
from mta.submission.dkim_signing import dkim_signature
from mta.submission.policy import (
    address_refusal,
    is_address,
    is_null_sender,
    recipient_count_refusal,
    sender_refusal,
    size_refusal,
)
from mta.submission.sending_limits import SendingLimits
from mta.tracking.rewrite import (
    TrackingRequest,
    TrackingSettings,
    TrackingSource,
    plan_for,
    prepare,
)
from storage.domains import SenderContext, is_inbound_relay_domain, sender_for_address_domain
from storage.domains import sender_by_domain_id as _sender_by_domain_id
from storage.engine import Database
from storage.models import utcnow
from storage.queue import NewMessage, QueueWriter
from storage.suppressions import suppression_reason


class SubmissionRefused(Exception):
    """Why the submission path refuses a message (`reason`) and what about (`detail`: an
    address, a domain, a limit); each surface answers it through its own table."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        if reason not in SUBMISSION_REASONS:
            raise ValueError(f"{reason} is not a reason the submission path refuses for")
        self.reason, self.detail = reason, detail
        super().__init__(str(self.reply))

    @property
    def reply(self) -> Refused:
        """The refusal as the SMTP surface states it, its detail appended."""
        return SUBMISSION_REPLIES[self.reason].detailed(self.detail)


@dataclass
class Recipients:
    """A message's envelope recipients once the recipient rules passed them (an address, within
    the count, in a relay domain or not suppressed), and those set aside as suppressed. Made
    here only: one at a time (`admit`, at SMTP's RCPT) or all at once (`screen`)."""

    accepted: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Origin:
    """Where a message came from, for its `Received:` header."""

    helo: str
    client_ip: str
    protocol: str


log = logging.getLogger("mailgate.smtp")

SENDER_CACHE_SECONDS = 1.0


class _NotCached(enum.Enum):
    """An entry can expire between a membership test and a read, so the cache is read once, with
    this default standing for "not cached" (None is a cached "no such domain")."""

    TOKEN = enum.auto()


_UNKNOWN: Final = _NotCached.TOKEN


class GatewaySettings(TrackingSource, Protocol):
    """The settings a gateway is configured from (mailgate.config.Settings has them)."""

    @property
    def hostname(self) -> str: ...
    @property
    def hop_limit(self) -> int: ...
    @property
    def soft_bounce_limit(self) -> int: ...
    @property
    def max_message_size(self) -> int: ...
    @property
    def max_recipients(self) -> int: ...


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
    max_message_size: int = 25 * 1024 * 1024  # octets; mailgate/config.py's default
    max_recipients: int = 1000  # per message; mailgate/config.py's default
    senders: TTLCache[tuple[str, object], SenderContext | None] = field(
        default_factory=lambda: TTLCache(maxsize=10_000, ttl=SENDER_CACHE_SECONDS)
    )
    limits: SendingLimits = field(init=False)

    def __post_init__(self) -> None:
        self.limits = SendingLimits(self.db)

    @classmethod
    def configured(cls, db: Database, writer: QueueWriter, settings: GatewaySettings) -> Gateway:
        """The gateway as the settings of `mailgate serve` (mailgate/config.py) describe it."""
        return cls(
            db,
            writer,
            settings.hostname,
            settings.hop_limit,
            settings.soft_bounce_limit,
            tracking=TrackingSettings.of(settings),
            max_message_size=settings.max_message_size,
            max_recipients=settings.max_recipients,
        )


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
        raise SubmissionRefused(Reason.SENDER_DOMAIN, "a sender address is required")
    key = ("name", domain_of(mail_from))
    sender = gw.senders.get(key, _UNKNOWN)
    if sender is _UNKNOWN:
        sender = gw.senders[key] = await sender_for_address_domain(gw.db, key[1])
    check_sender(sender, [mail_from])
    assert sender is not None
    return sender


def check_size(gw: Gateway, size: int) -> None:
    if size_refusal(size, gw.max_message_size) is not None:
        raise SubmissionRefused(Reason.SIZE, f"{size} octets, at most {gw.max_message_size}")


def check_sender(sender: SenderContext | None, addresses: Sequence[str]) -> None:
    """The sender domain may send (registered, Enabled, its owner confirmed, trusted, active)
    and each of `addresses` (envelope sender, From:, Sender:; the null sender aside) is an
    address within it."""
    refusal = sender_refusal(sender)
    if refusal is not None or sender is None:
        domain = sender.domain if sender else ", ".join(domain_of(a) for a in addresses)
        raise SubmissionRefused(refusal or Reason.SENDER_DOMAIN, domain)
    given = [a for a in addresses if not is_null_sender(a)]
    if any(not is_address(a) for a in given):
        raise SubmissionRefused(Reason.SENDER_SYNTAX, ", ".join(given))
    if address_refusal(sender, [domain_of(a) for a in given]) is not None:
        raise SubmissionRefused(Reason.SENDER_ADDRESS, f"{', '.join(given)} not in {sender.domain}")


async def check_recipient(gw: Gateway, sender: SenderContext | None, recipient: str) -> None:
    """An address; outbound, not suppressed; inbound, in a domain we relay for."""
    if not is_address(recipient):
        raise SubmissionRefused(Reason.RECIPIENT_SYNTAX, f"<{recipient}>")
    if sender is None:
        if not await is_inbound_relay_domain(gw.db, domain_of(recipient)):
            raise SubmissionRefused(Reason.RELAY_DENIED, f"<{recipient}>")
        return
    reason = await suppression_reason(gw.db, recipient, sender.user_id, sender.domain_id)
    if reason is not None:
        raise SubmissionRefused(Reason.SUPPRESSED, f"<{recipient}> ({reason})")


def check_recipient_count(gw: Gateway, count: int) -> None:
    refusal = recipient_count_refusal(count, gw.max_recipients)
    if refusal is not None:
        raise SubmissionRefused(refusal, f"{count}, at most {gw.max_recipients}")


async def admit(
    gw: Gateway, sender: SenderContext | None, recipients: Recipients, address: str
) -> None:
    """One more recipient (SMTP's RCPT): refused past the count, or by the recipient rules."""
    check_recipient_count(gw, len(recipients.accepted) + 1)
    await check_recipient(gw, sender, address)
    recipients.accepted.append(address)


async def screen(
    gw: Gateway, sender: SenderContext | None, addresses: Sequence[str], set_aside: bool = True
) -> Recipients:
    """All of a message's recipients at once. The APIs queue a message to the recipients that
    may have it and name the others (`set_aside`), where SMTP refuses each suppressed RCPT on
    its own; a message left with no recipient is refused."""
    check_recipient_count(gw, len(addresses))
    screened = await _sorted(gw, sender, addresses, set_aside)
    if not screened.accepted:
        raise SubmissionRefused(Reason.SUPPRESSED, ", ".join(screened.suppressed))
    return screened


async def split_suppressed(
    gw: Gateway, sender: SenderContext, recipients: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(accepted, suppressed), refusing none: for callers that queue a message per recipient
    (campaign tests, confirmations) and decide themselves what none left means."""
    screened = await _sorted(gw, sender, recipients, set_aside=True)
    return screened.accepted, screened.suppressed


async def _sorted(
    gw: Gateway, sender: SenderContext | None, addresses: Sequence[str], set_aside: bool
) -> Recipients:
    """The recipient rules for each address; a suppressed one set aside when `set_aside`."""
    screened = Recipients()
    for address in addresses:
        try:
            await check_recipient(gw, sender, address)
        except SubmissionRefused as refused:
            if not (set_aside and refused.reason is Reason.SUPPRESSED):
                raise
            screened.suppressed.append(address)
        else:
            screened.accepted.append(address)
    return screened


def check_content(gw: Gateway, sender: SenderContext | None, content: bytes) -> HeaderSummary:
    """Line endings, the header section (strictly read for mail we relay), the hop count, and
    the From rules: one From with an address, it and any Sender within the sender domain."""
    if has_bare_line_ending(content):
        raise SubmissionRefused(Reason.LINE_ENDINGS)
    try:
        summary = read_headers(content, strict=sender is not None)
    except MalformedHeader as error:
        raise SubmissionRefused(Reason.HEADERS, str(error)) from None
    if summary.hops >= gw.hop_limit:
        raise SubmissionRefused(Reason.LOOP)
    if sender is not None:
        if not summary.from_addresses:
            raise SubmissionRefused(Reason.FROM_HEADER)
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
    recipients: Sequence[str] | Recipients,
    content: bytes,
    origin: Origin,
    source: str,
    tags: Sequence[str] = (),
    send_at: datetime | None = None,
    queue_id: uuid.UUID | None = None,
    tracking: TrackingRequest | None = None,
) -> uuid.UUID:
    """Check, complete, sign and durably queue one message; returns its id once committed.
    `recipients`: as `admit` or `screen` passed them, or addresses to check here (any refused
    one refuses the message). `queue_id` lets a caller name the message (an idempotent retry of
    an API call); `tracking`, the message's own tracking choices over its domain's.

    `sender` None means inbound mail for one of our relay domains (bounces, complaints): it is
    stored for processing, not relayed.
    """
    check_size(gw, len(content))
    if sender is not None:
        check_sender(sender, [mail_from])
    summary = check_content(gw, sender, content)
    if not isinstance(recipients, Recipients):
        recipients = await screen(gw, sender, recipients, set_aside=False)
    accepted = recipients.accepted
    if sender is not None and not await gw.limits.reserve(sender, len(accepted)):
        raise SubmissionRefused(Reason.SEND_LIMIT, sender.domain)
    try:
        return await _queue(gw, sender, mail_from, accepted, content, summary, origin, source,
                            tags, send_at, queue_id, tracking)  # fmt: skip
    except BaseException:
        if sender is not None:
            gw.limits.release(sender, len(accepted))
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
