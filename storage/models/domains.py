"""Sender domains (with their DKIM keys), the inbound relay (bounce) domains, and the SMTP
credentials of a sender domain.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created, intpk, maybe_time, stored_enum


class DomainStatus(enum.StrEnum):
    APPROVAL_PENDING = "Approval Pending"
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class SenderDomain(Base):
    __tablename__ = "sender_domains"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    status: Mapped[DomainStatus] = mapped_column(
        stored_enum(DomainStatus), default=DomainStatus.APPROVAL_PENDING
    )
    link_tracking: Mapped[bool] = mapped_column(default=True)
    open_tracking: Mapped[bool] = mapped_column(default=True)
    unsubscribe_link: Mapped[bool] = mapped_column(default=False)
    custom_subdomain: Mapped[str | None] = mapped_column(String(32))
    custom_track_prefix: Mapped[str | None] = mapped_column(String(32))
    track_merge: Mapped[str | None] = mapped_column(String(8))
    track_prefix_disabled: Mapped[bool] = mapped_column(default=False)
    hosting_provider: Mapped[str | None] = mapped_column(String(255))
    dkim_selector: Mapped[str] = mapped_column(String(63))
    dkim_private_key: Mapped[str] = mapped_column(Text)
    webhook_signing_key: Mapped[str] = mapped_column(String(128))
    dns_results: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verified_at: Mapped[maybe_time]
    created_at: Mapped[created]


class InboundRelayDomain(Base):
    """Domains Mailgate accepts unauthenticated mail for (return-path/bounce domains)."""

    __tablename__ = "inbound_relay_domains"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(253), unique=True)
    sender_domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("sender_domains.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[created]


class SmtpCredential(Base):
    __tablename__ = "smtp_credentials"

    id: Mapped[intpk]
    domain_id: Mapped[int] = mapped_column(
        ForeignKey("sender_domains.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[created]
    last_used_at: Mapped[maybe_time]
