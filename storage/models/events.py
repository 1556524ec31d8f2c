"""The event log and what follows it: events are append-only and carry the user and sender
domain so that statistics need no joins; webhooks subscribe to event types, and the outbox holds
one call per event and subscribed webhook.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from storage.event_names import EventType, WebhookEvent
from storage.models.base import Base, BigID, UTCDateTime, created, intpk, maybe_time, stored_enum


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_domain_time", "sender_domain_id", "created_at"),
        Index("ix_events_user_time", "user_id", "created_at"),
        # A message's events, and one recipient's of them (a campaign run's message has a
        # delivery per subscriber: a subscriber's opens are found without reading the run's).
        Index("ix_events_message_delivery", "message_id", "delivery_id"),
    )

    id: Mapped[intpk]
    type: Mapped[EventType] = mapped_column(stored_enum(EventType))
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    delivery_id: Mapped[int | None] = mapped_column(BigID)
    recipient: Mapped[str | None] = mapped_column(String(512))
    user_id: Mapped[int | None] = mapped_column(BigID)
    sender_domain_id: Mapped[int | None] = mapped_column(BigID)
    created_at: Mapped[created]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Webhook(Base):
    """A sender domain's endpoint for one event type; `disabled_at` is set when it answers 410."""

    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("sender_domain_id", "event", "url"),)

    id: Mapped[intpk]
    sender_domain_id: Mapped[int] = mapped_column(
        ForeignKey("sender_domains.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[WebhookEvent] = mapped_column(stored_enum(WebhookEvent))
    url: Mapped[str] = mapped_column(String(2048))
    disabled_at: Mapped[maybe_time]
    created_at: Mapped[created]


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # to be called, now or at next_attempt_at
    DELIVERED = "delivered"  # the endpoint answered 2xx
    DEAD = "dead"  # every attempt failed, or the endpoint answered 410: kept for replay


class WebhookCall(Base):
    """The webhook outbox: one row per event and subscribed webhook, written in the transaction
    that records the event, claimed by dispatchers with a lease (`locked_by`, `locked_until`)
    as the delivery queue is."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        UniqueConstraint("event_id", "webhook_id"),
        Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
        Index("ix_webhook_outbox_webhook_status", "webhook_id", "status"),
    )

    id: Mapped[intpk]
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    status: Mapped[OutboxStatus] = mapped_column(
        stored_enum(OutboxStatus), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[maybe_time]
    last_status: Mapped[int | None]  # the HTTP status of the last answer; None: no answer
    last_response: Mapped[str | None] = mapped_column(String(500))
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[maybe_time]
    created_at: Mapped[created]
    delivered_at: Mapped[maybe_time]
