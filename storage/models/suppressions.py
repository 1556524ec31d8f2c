"""Addresses that must not be mailed, for one account, one sender domain, or everyone."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, created, intpk, stored_enum


class SuppressionScope(enum.StrEnum):
    ACCOUNT = "account"
    DOMAIN = "domain"
    GLOBAL = "global"


class Suppression(Base):
    """An address that must not be mailed, for one account, one sender domain, or everyone."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("address", "scope", "user_id", "sender_domain_id"),)

    id: Mapped[intpk]
    address: Mapped[str] = mapped_column(String(512), index=True)
    scope: Mapped[SuppressionScope] = mapped_column(stored_enum(SuppressionScope))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sender_domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("sender_domains.id", ondelete="CASCADE")
    )
    reason: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created]


# One row per entry. The unique constraint above treats NULL ids as distinct (on both backends),
# so it never holds for account or global entries; this index compares them as 0.
Index(
    "uq_suppressions_entry",
    Suppression.address,
    Suppression.scope,
    func.coalesce(Suppression.user_id, 0),
    func.coalesce(Suppression.sender_domain_id, 0),
    unique=True,
)


class DeadDomain(Base):
    """A recipient domain seen without mail service (NXDOMAIN, null MX, a host-unknown bounce):
    when first and last. An address at it is suppressed only once the domain has been seen so
    at least an hour apart, never on one lookup (storage/suppressions.py)."""

    __tablename__ = "dead_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
