"""Mail that comes back to Mailgate's return-path domains: bounce reports and complaints about
messages it sent, turned into events and suppressions (stored first, like any message), and
unsubscribe requests sent to the mailto address of `List-Unsubscribe`."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from mta.feedback.bounce_classes import Classification, suppresses
from mta.feedback.bounce_parser import Report, parse_report
from mta.tracking.tokens import InvalidToken, Purpose, read_recipient_token
from mta.verp import parse_verp_delivery
from storage.engine import Database
from storage.feedback import AsyncBounce, Recorded, record_bounces, record_complaint
from storage.tracking import tracked_delivery, unsubscribe

UNSUBSCRIBE_LOCAL = "unsubscribe"

log = logging.getLogger("mailgate.inbound")


async def process_report(
    db: Database,
    queue_id: uuid.UUID | None,
    raw: bytes,
    recipients: Sequence[str],
    soft_bounce_limit: int,
    category: str | None = None,
) -> Recorded | None:
    """Parse a received message (in a thread: a report can be large) and record what it says.
    `category` is one an MTA already decided (PowerMTA's), used instead of Mailgate's.

    Returns None when it is not a report about one of our messages."""
    report: Report = await asyncio.to_thread(parse_report, raw, recipients)
    if report.message_id is None or report.kind == "none":
        log.info("inbound message=%s kind=%s about=%s", queue_id, report.kind, report.message_id)
        return None
    # Our VERP address as the report's envelope recipient may name the delivery itself.
    delivery_id = next(filter(None, map(parse_verp_delivery, recipients)), None)
    if report.kind == "complaint":
        recorded = await record_complaint(
            db,
            report.message_id,
            report.complainant,
            report.feedback_type,
            report.user_agent,
            delivery_id,
        )
    else:
        bounces = []
        for failed in report.recipients:
            found = Classification(
                failed.hard, category or failed.category, failed.enhanced_code, failed.reason
            )
            bounces.append(
                AsyncBounce(
                    address=failed.address,
                    hard=found.hard,
                    category=found.category,
                    enhanced_code=found.enhanced_code,
                    diagnostic=failed.diagnostic,
                    delayed=failed.action == "delayed",
                    suppress=suppresses(found),
                    reason=found.reason,
                )
            )
        recorded = await record_bounces(
            db, report.message_id, bounces, soft_bounce_limit, delivery_id
        )
    log.info(
        "inbound message=%s kind=%s about=%s events=%s suppressed=%s",
        queue_id,
        report.kind,
        report.message_id,
        [(str(kind), recipient) for kind, recipient in recorded.events],  # names, not enum reprs
        recorded.suppressed,
    )
    return recorded


async def unsubscribe_by_mail(db: Database, key: bytes, recipients: Sequence[str]) -> list[str]:
    """Unsubscribe the recipient each `unsubscribe+TOKEN@<return-path domain>` address names
    (the mailto of List-Unsubscribe; what the message says does not matter). Returns the
    addresses unsubscribed; an address with a token that is not ours does nothing."""
    done = []
    for address in recipients:
        local = address.rpartition("@")[0]
        name, plus, token = local.partition("+")
        if not plus or name.lower() != UNSUBSCRIBE_LOCAL:
            continue
        try:
            delivery_id = read_recipient_token(key, Purpose.UNSUBSCRIBE, token)
        except InvalidToken:
            log.info("inbound unsubscribe with an invalid token to=<%s>", address)
            continue
        delivery = await tracked_delivery(db, delivery_id)
        if delivery is None:
            continue
        if await unsubscribe(db, delivery, {"source": "mailto"}):
            done.append(delivery.recipient)
        log.info("inbound unsubscribe message=%s delivery=%d", delivery.message_id, delivery.id)
    return done
