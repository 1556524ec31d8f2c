"""Accounts and what lets them in: users, their API keys and login sessions, failed SMTP AUTH
attempts, request counts for rate limits, the secrets every node must share, and SMS sender
names.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigID, UTCDateTime, created, intpk, maybe_time, stored_enum


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    UNVERIFIED = "unverified"


class KeyKind(enum.StrEnum):
    USER = "user"  # a user's APIKey for /api.php
    DOMAIN = "domain"  # a sender domain's key (eg_live_...), Bearer on /api/v1
    ADMIN = "admin"  # the gateway's AdminAPIKey


class Permission(enum.StrEnum):
    """What a user may do on the Email Gateway API (the spec's "Required permissions")."""

    ADD_DOMAIN = "EmailGateway.AddDomain"
    MANAGE_DOMAIN = "EmailGateway.ManageDomain"


ALL_PERMISSIONS = [p.value for p in Permission]


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[UserStatus] = mapped_column(stored_enum(UserStatus), default=UserStatus.ACTIVE)
    trusted: Mapped[bool] = mapped_column(default=True)
    max_sender_domains: Mapped[int] = mapped_column(default=10)
    send_limit_hourly: Mapped[int | None]
    send_limit_daily: Mapped[int | None]
    requires_campaign_approval: Mapped[bool] = mapped_column(default=False)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=lambda: list(ALL_PERMISSIONS))
    created_at: Mapped[created]
    # The signed REST API (/rest): a public key, and the salt its secret is derived from with
    # the server's key (the secret signs requests, so it cannot be stored as a hash; derived,
    # it is never stored at all). Accounts made by /rest/account/create have a parent.
    # (Unique indexes and no foreign key: SQLite adds such columns in place, where a constraint
    # would make the migration rebuild `users`, and dropping it would cascade to every row
    # that refers to a user.)
    rest_api_key: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    rest_secret_salt: Mapped[str | None] = mapped_column(String(32))
    account_hash: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    parent_user_id: Mapped[int | None] = mapped_column(BigID, index=True)
    first_name: Mapped[str] = mapped_column(String(128), default="")
    last_name: Mapped[str] = mapped_column(String(128), default="")
    company: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")


class ApiKey(Base):
    """User, sender-domain and admin API keys; only a SHA-256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[intpk]
    kind: Mapped[KeyKind] = mapped_column(stored_enum(KeyKind))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("sender_domains.id", ondelete="CASCADE")
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[created]
    last_used_at: Mapped[maybe_time]


class LoginSession(Base):
    """A `User.Login` session; only a SHA-256 of the session id is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[created]


class RateWindow(Base):
    """Requests counted per key (a SHA-256 of it) and fixed window, shared by every node."""

    __tablename__ = "rate_windows"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)


class ClusterSecret(Base):
    """A secret every node of this database must hold alike (the conversion key), by its
    fingerprint: nodes check theirs against it, and the secret itself never enters the database,
    so a dump of it alone derives no REST secret and forges no tracking link."""

    __tablename__ = "cluster_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[created]


class SmsSender(Base):
    """A sender name (signature) an account announced for PRO SMS; usable once confirmed."""

    __tablename__ = "sms_senders"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(11))
    confirmed_at: Mapped[maybe_time]
    created_at: Mapped[created]


ADDRESS_LENGTH = 64  # an IPv6 address with a zone index fits


class AuthFailure(Base):
    """The failures from one client address within the window that the first of them opened,
    and, once they reached the limit, until when the address is refused (storage/auth_failures.py
    keeps the counting)."""

    __tablename__ = "auth_failures"

    client_address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    failures: Mapped[int]
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    locked_until: Mapped[maybe_time]
