"""Campaigns: their content, schedule and runs, and the conversions postbacks credit them with."""

from __future__ import annotations

import enum
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigID, created, intpk, maybe_time, stored_enum


class CampaignStatus(enum.StrEnum):
    """A campaign's life (002's names): Draft until it is made Ready; Pending approval when the
    account needs it; Scheduled for a later or recurring send; Sending while a run queues and
    delivers; Paused and back; Sent, Failed or Canceled at the end."""

    DRAFT = "Draft"
    READY = "Ready"
    PENDING_APPROVAL = "Pending approval"
    SCHEDULED = "Scheduled"
    SENDING = "Sending"
    PAUSED = "Paused"
    SENT = "Sent"
    FAILED = "Failed"
    CANCELED = "Canceled"


class ScheduleType(enum.StrEnum):
    NOT_SCHEDULED = "Not Scheduled"
    IMMEDIATE = "Immediate"
    FUTURE = "Future"
    RECURSIVE = "Recursive"


class CampaignEmail(Base):
    """The content a campaign sends (002's `RelEmailID`, `Email.*`): subject, sender, reply-to,
    HTML and plain text, or HTML fetched from a URL when the campaign starts."""

    __tablename__ = "campaign_emails"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    from_name: Mapped[str] = mapped_column(String(255), default="")
    from_email: Mapped[str] = mapped_column(String(320), default="")
    reply_to_name: Mapped[str] = mapped_column(String(255), default="")
    reply_to_email: Mapped[str] = mapped_column(String(320), default="")
    html: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    content_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[created]
    updated_at: Mapped[maybe_time]


class Campaign(Base):
    """One campaign, for both /api.php (numeric `id`) and /rest (`hash`).

    `audience`: {"lists": [{"list_id", "segment_id"|None}], "exclude": [same], "rules": a
    RulesJsonBundle or None}. `recurrence`: the Recursive schedule's days of week and month,
    months, hours, minutes and maximum instances. `next_run_at` is when the scheduler starts the
    next run (UTC), computed in `time_zone`."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_due", "status", "next_run_at"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    hash: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[CampaignStatus] = mapped_column(
        stored_enum(CampaignStatus), default=CampaignStatus.DRAFT
    )
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_emails.id", ondelete="SET NULL"), index=True
    )
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schedule_type: Mapped[ScheduleType] = mapped_column(
        stored_enum(ScheduleType), default=ScheduleType.NOT_SCHEDULED
    )
    send_at: Mapped[maybe_time]  # Future: the instant; SendDate + SendTime in time_zone
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    recurrence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_run_at: Mapped[maybe_time]
    instances: Mapped[int] = mapped_column(default=0)  # runs started so far
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    google_analytics_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    publish_on_rss: Mapped[bool] = mapped_column(default=False)
    s2s_enabled: Mapped[bool] = mapped_column(default=False)
    approval_explanation: Mapped[str] = mapped_column(Text, default="")
    resign_link: Mapped[str | None] = mapped_column(String(2048))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[created]
    updated_at: Mapped[maybe_time]
    sent_at: Mapped[maybe_time]  # when the latest run started
    finished_at: Mapped[maybe_time]
    deleted_at: Mapped[maybe_time]  # deleted campaigns stay for their reports and events


class RunStatus(enum.StrEnum):
    QUEUEING = "queueing"  # recipients are being queued, batch by batch
    PAUSED = "paused"
    QUEUED = "queued"  # every recipient is queued; deliveries go on
    DONE = "done"  # every delivery is final
    CANCELED = "canceled"
    FAILED = "failed"


class CampaignRun(Base):
    """One sending of a campaign (a recurring campaign has one per instance): its message (the
    stored template, personalised per recipient at delivery), a frozen audience plan, how far
    queueing got (`target_index`, `cursor`: the last subscriber id of that target) and what it
    counted. Each batch of recipients and the cursor commit together, so a restart resumes
    where it stopped and nobody is queued twice (deliveries are unique per message)."""

    __tablename__ = "campaign_runs"
    __table_args__ = (
        UniqueConstraint("campaign_id", "instance"),
        Index("ix_campaign_runs_status", "status"),
    )

    id: Mapped[intpk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    instance: Mapped[int] = mapped_column(default=1)
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(stored_enum(RunStatus), default=RunStatus.QUEUEING)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    target_index: Mapped[int] = mapped_column(default=0)
    cursor: Mapped[int] = mapped_column(BigID, default=0)
    queued: Mapped[int] = mapped_column(default=0)
    skipped_inactive: Mapped[int] = mapped_column(default=0)
    skipped_suppressed: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    canceled: Mapped[int] = mapped_column(default=0)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[maybe_time]
    started_at: Mapped[created]
    queued_at: Mapped[maybe_time]
    finished_at: Mapped[maybe_time]


class Conversion(Base):
    """A server-to-server conversion postback (`internal.s2spostback.register`)."""

    __tablename__ = "conversions"
    __table_args__ = (Index("ix_conversions_user_campaign", "user_id", "campaign_id"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(BigID)
    autoresponder_id: Mapped[int | None] = mapped_column(BigID)
    subscriber_id: Mapped[int | None] = mapped_column(BigID)
    list_id: Mapped[int | None] = mapped_column(BigID)
    channel: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    unit: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[created]
