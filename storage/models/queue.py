"""The queue: a message, its tags as rows, and one `Delivery` per recipient, claimed by delivery
workers with a lease (`locked_by`, `locked_until`).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigID, UTCDateTime, created, intpk, maybe_time, stored_enum


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    HELD = "held"  # a paused campaign's recipient: not due until the campaign resumes
    CANCELED = "canceled"  # a canceled campaign's recipient that was never sent


class Message(Base):
    __tablename__ = "messages"
    # Covering: sending limits sum a user's recipients over an hour or a day from the index.
    __table_args__ = (Index("ix_messages_user_time", "user_id", "created_at", "recipient_count"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sender_domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("sender_domains.id", ondelete="SET NULL"), index=True
    )
    mail_from: Mapped[str] = mapped_column(String(512))
    header_from: Mapped[str | None] = mapped_column(String(998))
    subject: Mapped[str | None] = mapped_column(String(998))
    message_id_header: Mapped[str | None] = mapped_column(String(998))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]
    recipient_count: Mapped[int] = mapped_column(default=1)  # what sending limits count
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(16))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    send_at: Mapped[maybe_time]
    campaign_id: Mapped[int | None] = mapped_column(BigID, index=True)
    created_at: Mapped[created]


class MessageTag(Base):
    """A message's tags as rows (the JSON list on `messages` is what the APIs show): statistics
    group by tag with a plain join on every backend."""

    __tablename__ = "message_tags"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class Delivery(Base):
    """One recipient of one message: the unit of the queue."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_recipient_domain", "recipient_domain", "status"),
        # A recipient once per message: a campaign run queues each address once, whichever
        # lists it is on and however often queueing restarts (and it serves lookups by message).
        Index("ix_deliveries_message_recipient", "message_id", "recipient", unique=True),
    )

    id: Mapped[intpk]
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(512))
    # A campaign's recipient: whose custom fields personalise the copy at delivery.
    subscriber_id: Mapped[int | None] = mapped_column(BigID)
    recipient_domain: Mapped[str] = mapped_column(String(253))
    status: Mapped[DeliveryStatus] = mapped_column(
        stored_enum(DeliveryStatus), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[maybe_time]
    last_response: Mapped[str | None] = mapped_column(Text)
    last_remote_host: Mapped[str | None] = mapped_column(String(255))
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[maybe_time]
    delivered_at: Mapped[maybe_time]
    created_at: Mapped[created]
