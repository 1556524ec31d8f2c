"""Work an API call leaves to run later, retried with a lease like the other queues."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, created, intpk, maybe_time, stored_enum, utcnow


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class BackgroundJob(Base):
    """Work an API call leaves to run later (`/rest/subscriber/updateFieldValue`), its result
    and the callback that reports it, retried with a lease like the other queues."""

    __tablename__ = "background_jobs"
    __table_args__ = (Index("ix_background_jobs_due", "status", "next_attempt_at"),)

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[JobStatus] = mapped_column(stored_enum(JobStatus), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[maybe_time]
    created_at: Mapped[created]
    finished_at: Mapped[maybe_time]
