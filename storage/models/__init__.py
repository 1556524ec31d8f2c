"""The data model of the whole gateway, as typed SQLAlchemy 2 tables, one module per kind of
data (accounts, domains, the queue, suppressions, events and webhooks, lists, campaigns,
background jobs). Importing the package registers every table in `Base.metadata`, which
migrations and their tests compare; `from storage.models import X` names any of them.
"""

from __future__ import annotations

from storage.event_names import EventType, WebhookEvent
from storage.models.accounts import (
    ADDRESS_LENGTH,
    ALL_PERMISSIONS,
    ApiKey,
    AuthFailure,
    ClusterSecret,
    KeyKind,
    LoginSession,
    Permission,
    RateWindow,
    SmsSender,
    User,
    UserStatus,
)
from storage.models.background_jobs import BackgroundJob, JobStatus
from storage.models.base import (
    NAMING,
    Base,
    BigID,
    UTCDateTime,
    created,
    intpk,
    iso_time,
    maybe_time,
    utcnow,
)
from storage.models.campaigns import (
    Campaign,
    CampaignEmail,
    CampaignRun,
    CampaignStatus,
    Conversion,
    RunStatus,
    ScheduleType,
)
from storage.models.domains import DomainStatus, InboundRelayDomain, SenderDomain, SmtpCredential
from storage.models.events import Event, OutboxStatus, Webhook, WebhookCall
from storage.models.lists import ListField, Segment, Subscriber, SubscriberList, SubscriberState
from storage.models.queue import Delivery, DeliveryStatus, Message, MessageTag
from storage.models.suppressions import DeadDomain, Suppression, SuppressionScope

__all__ = [
    "ADDRESS_LENGTH",
    "ALL_PERMISSIONS",
    "NAMING",
    "ApiKey",
    "AuthFailure",
    "BackgroundJob",
    "Base",
    "BigID",
    "Campaign",
    "CampaignEmail",
    "CampaignRun",
    "CampaignStatus",
    "ClusterSecret",
    "Conversion",
    "DeadDomain",
    "Delivery",
    "DeliveryStatus",
    "DomainStatus",
    "Event",
    "EventType",
    "InboundRelayDomain",
    "JobStatus",
    "KeyKind",
    "ListField",
    "LoginSession",
    "Message",
    "MessageTag",
    "OutboxStatus",
    "Permission",
    "RateWindow",
    "RunStatus",
    "ScheduleType",
    "Segment",
    "SenderDomain",
    "SmsSender",
    "SmtpCredential",
    "Subscriber",
    "SubscriberList",
    "SubscriberState",
    "Suppression",
    "SuppressionScope",
    "UTCDateTime",
    "User",
    "UserStatus",
    "Webhook",
    "WebhookCall",
    "WebhookEvent",
    "created",
    "intpk",
    "iso_time",
    "maybe_time",
    "utcnow",
]
