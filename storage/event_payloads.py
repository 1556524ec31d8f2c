"""What each kind of event carries in `events.data`, as one TypedDict per writer, so that the
keys one module writes and another reads are named once and checked by the type checker.

`data` stays a JSON column (no migration): these types describe it, they do not convert it.
Readers get plain dicts back from the database; they read them through the same names."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Required, TypedDict

from storage.event_names import EventType


class BounceType(enum.StrEnum):
    HARD = "hard"
    SOFT = "soft"


class BounceFields(TypedDict, total=False):
    """A bounce's class, on `bounced` events from delivery and from DSNs. The subscriber states
    move an address's subscribers on a hard bounce about the address itself; the campaign
    reports count hard and soft bounces by `bounce_type`."""

    bounce_type: BounceType
    address_suppressed: bool  # the address itself is bad, not the message (a spam block)
    bounce_reason: str  # why, in Sisimai's vocabulary (mta/feedback/reasons.py): mailboxfull, ...


def bounce_fields(
    hard: bool, address_suppressed: bool | None = None, reason: str | None = None
) -> BounceFields:
    """The bounce class keys; `address_suppressed` left out when nothing was decided about the
    address (a message that expired in the queue), `bounce_reason` when none was told."""
    fields = BounceFields(bounce_type=BounceType.HARD if hard else BounceType.SOFT)
    if address_suppressed is not None:
        fields["address_suppressed"] = address_suppressed
    if reason is not None:
        fields["bounce_reason"] = reason
    return fields


def is_bad_address(data: Mapping[str, Any]) -> bool:
    """Is this a hard bounce about the address itself (one that suppresses it)?"""
    return data.get("bounce_type") == BounceType.HARD and bool(data.get("address_suppressed"))


class AttemptData(BounceFields, total=False):
    """`delivered`, `deferred`, `bounced` and `failed` from a delivery attempt
    (storage/outbound.py)."""

    remote_host: str | None
    reply: str
    enhanced_code: str | None
    category: str | None
    attempt: int
    seconds: float  # delivered: from queueing to delivery
    next_attempt_at: str  # deferred: ISO 8601


class DsnBounceData(BounceFields, total=False):
    """`bounced` and `deferred` from a DSN that came back later (storage/feedback.py)."""

    reply: Required[str]
    enhanced_code: Required[str | None]
    category: Required[str]
    source: Required[str]  # "dsn"


class ComplaintData(TypedDict):
    """`complained`, from an ARF or JMRP report (storage/feedback.py)."""

    feedback_type: str | None
    user_agent: str | None
    source: str  # "fbl"


class VisitorData(TypedDict, total=False):
    """`opened`, `clicked` and `unsubscribed`, from the tracking routes (http_api/tracking.py)."""

    ip: str | None
    user_agent: str
    link: str  # clicked: the link followed
    source: str  # unsubscribed: "page" or "one-click" (List-Unsubscribe-Post)


class QueuedData(TypedDict):
    """`queued` and `received`, when a message is stored (storage/queue.py)."""

    source: str
    size: int


class OperatorFailedData(TypedDict):
    """`failed`, when an operator removes queued recipients (storage/queue_admin.py)."""

    reply: str
    category: str


class EventRecord(TypedDict, total=False):
    """One row of `events` as storage.event_log.record_events takes it."""

    type: Required[EventType]
    message_id: uuid.UUID | None
    delivery_id: int | None
    recipient: str | None
    user_id: int | None
    sender_domain_id: int | None
    created_at: Required[datetime]
    data: Mapping[str, Any]
