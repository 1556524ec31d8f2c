"""The data model of the whole gateway, as typed SQLAlchemy 2 tables.

The queue is the `deliveries` table: one row per recipient of a message, claimed by delivery
workers with a lease (`locked_by`, `locked_until`). Events are append-only and carry the user
and sender domain so that statistics queries need no joins.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A BIGINT primary key that is still SQLite's autoincrementing rowid.
BigID = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_time(value: datetime | None) -> str | None:
    """A time as the CLI and operator views show it (ISO 8601), or None for no time."""
    return value.isoformat() if value is not None else None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


intpk = Annotated[int, mapped_column(BigID, primary_key=True, autoincrement=True)]
created = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow, nullable=False)]
maybe_time = Annotated[datetime | None, mapped_column(UTCDateTime(), nullable=True)]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum]) -> Enum:
    """Store enums by value, as portable strings (no native ENUM types to migrate)."""
    return Enum(
        cls,
        values_callable=lambda members: [m.value for m in members],
        native_enum=False,
        length=32,
        validate_strings=True,
    )


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    UNVERIFIED = "unverified"


class DomainStatus(enum.StrEnum):
    APPROVAL_PENDING = "Approval Pending"
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class KeyKind(enum.StrEnum):
    USER = "user"  # a user's APIKey for /api.php
    DOMAIN = "domain"  # a sender domain's key (eg_live_...), Bearer on /api/v1
    ADMIN = "admin"  # the gateway's AdminAPIKey


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    HELD = "held"  # a paused campaign's recipient: not due until the campaign resumes
    CANCELED = "canceled"  # a canceled campaign's recipient that was never sent


class SuppressionScope(enum.StrEnum):
    ACCOUNT = "account"
    DOMAIN = "domain"
    GLOBAL = "global"


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
    status: Mapped[UserStatus] = mapped_column(_enum(UserStatus), default=UserStatus.ACTIVE)
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
    kind: Mapped[KeyKind] = mapped_column(_enum(KeyKind))
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


class SenderDomain(Base):
    __tablename__ = "sender_domains"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    status: Mapped[DomainStatus] = mapped_column(
        _enum(DomainStatus), default=DomainStatus.APPROVAL_PENDING
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
        _enum(DeliveryStatus), default=DeliveryStatus.QUEUED
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
    type: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    delivery_id: Mapped[int | None] = mapped_column(BigID)
    recipient: Mapped[str | None] = mapped_column(String(512))
    user_id: Mapped[int | None] = mapped_column(BigID)
    sender_domain_id: Mapped[int | None] = mapped_column(BigID)
    created_at: Mapped[created]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Suppression(Base):
    """An address that must not be mailed, for one account, one sender domain, or everyone."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("address", "scope", "user_id", "sender_domain_id"),)

    id: Mapped[intpk]
    address: Mapped[str] = mapped_column(String(512), index=True)
    scope: Mapped[SuppressionScope] = mapped_column(_enum(SuppressionScope))
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


class WebhookEvent(enum.StrEnum):
    """The events a webhook subscribes to, by their /api.php names (/api/v1 names in the API)."""

    DELIVERY = "delivery"
    BOUNCE = "bounce"
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    COMPLAINT = "complaint"


class Webhook(Base):
    """A sender domain's endpoint for one event type; `disabled_at` is set when it answers 410."""

    __tablename__ = "webhooks"
    __table_args__ = (UniqueConstraint("sender_domain_id", "event", "url"),)

    id: Mapped[intpk]
    sender_domain_id: Mapped[int] = mapped_column(
        ForeignKey("sender_domains.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[WebhookEvent] = mapped_column(_enum(WebhookEvent))
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
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[maybe_time]
    last_status: Mapped[int | None]  # the HTTP status of the last answer; None: no answer
    last_response: Mapped[str | None] = mapped_column(String(500))
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[maybe_time]
    created_at: Mapped[created]
    delivered_at: Mapped[maybe_time]


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


class SubscriberState(enum.IntEnum):
    """The documented subscriber states of /rest/subscriber (003)."""

    ACTIVE = 1
    AWAITING_ACTIVATION = 2
    INACTIVE = 3
    RESIGNED = 4
    SOFT_BOUNCE = 5
    HARD_BOUNCE = 8


class SubscriberList(Base):
    """A subscriber list: `/rest/subscribers_list`, and what campaigns and /api/v1/email's
    ListID / TargetListID name (by `id` or by `hash`)."""

    __tablename__ = "subscriber_lists"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    hash: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[created]


class ListField(Base):
    """A custom field of a list: its values are the subscribers' `custom_fields` under `tag`."""

    __tablename__ = "list_fields"
    __table_args__ = (UniqueConstraint("list_id", "tag"),)

    id: Mapped[intpk]
    list_id: Mapped[int] = mapped_column(ForeignKey("subscriber_lists.id", ondelete="CASCADE"))
    hash: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(64))
    numeric: Mapped[bool] = mapped_column(default=False)  # type 1; 0 is text
    created_at: Mapped[created]


class Subscriber(Base):
    """One address on one list, its state and its custom field values (by tag)."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("list_id", "email"),
        Index("ix_subscribers_list_state", "list_id", "state"),
        Index("ix_subscribers_email", "email"),
        # A list's subscribers in id order: a campaign run queues them in batches after a cursor.
        Index("ix_subscribers_list_id", "list_id", "id"),
    )

    id: Mapped[intpk]
    list_id: Mapped[int] = mapped_column(ForeignKey("subscriber_lists.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    state: Mapped[int] = mapped_column(Integer, default=SubscriberState.AWAITING_ACTIVATION)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[created]
    updated_at: Mapped[maybe_time]
    confirmed_at: Mapped[maybe_time]


class SmsSender(Base):
    """A sender name (signature) an account announced for PRO SMS; usable once confirmed."""

    __tablename__ = "sms_senders"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(11))
    confirmed_at: Mapped[maybe_time]
    created_at: Mapped[created]


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
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[maybe_time]
    created_at: Mapped[created]
    finished_at: Mapped[maybe_time]


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


class Segment(Base):
    """A saved audience inside one list (REST's "group"): RulesJson criteria, evaluated in SQL
    when a campaign run starts."""

    __tablename__ = "segments"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber_lists.id", ondelete="CASCADE"), index=True
    )
    hash: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {operator, rules}
    created_at: Mapped[created]


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
        _enum(CampaignStatus), default=CampaignStatus.DRAFT
    )
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_emails.id", ondelete="SET NULL"), index=True
    )
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schedule_type: Mapped[ScheduleType] = mapped_column(
        _enum(ScheduleType), default=ScheduleType.NOT_SCHEDULED
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
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus), default=RunStatus.QUEUEING)
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
