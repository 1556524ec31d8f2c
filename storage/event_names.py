"""The names of events, in one place: `EventType`, what the `events` table stores (`delivered`,
`bounced`, ...: the /api/v1 names), and how /api.php shows them (`delivery`, `bounce`, ...: the
legacy names, which are also the events a webhook subscribes to, `WebhookEvent`). Types without
a legacy name (`received`, `queued`, `deferred`, `failed`) are shown as stored and have no
webhook.

Nothing here imports the models: storage/models/ takes both enums from this module."""

from __future__ import annotations

import enum


class EventType(enum.StrEnum):
    """What an event records, as stored in `events.type` (a string column: no migration)."""

    RECEIVED = "received"  # a message stored without deliveries to queue
    QUEUED = "queued"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"


class WebhookEvent(enum.StrEnum):
    """The events a webhook subscribes to, by their /api.php names (/api/v1 names in the API)."""

    DELIVERY = "delivery"
    BOUNCE = "bounce"
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    COMPLAINT = "complaint"


# Stored event type -> the webhook event it is delivered to (its legacy name).
WEBHOOK_EVENTS = {
    EventType.DELIVERED: WebhookEvent.DELIVERY,
    EventType.BOUNCED: WebhookEvent.BOUNCE,
    EventType.COMPLAINED: WebhookEvent.COMPLAINT,
    EventType.OPENED: WebhookEvent.OPEN,
    EventType.CLICKED: WebhookEvent.CLICK,
    EventType.UNSUBSCRIBED: WebhookEvent.UNSUBSCRIBE,
}
# Stored event type -> the legacy name /api.php shows.
LEGACY_NAMES: dict[str, str] = {stored: event.value for stored, event in WEBHOOK_EVENTS.items()}
STORED_TYPES: dict[str, str] = {legacy: stored for stored, legacy in LEGACY_NAMES.items()}


def stored_type(name: str) -> EventType | None:
    """The event type stored as `name`, or None when no event is (a filter naming it matches
    nothing)."""
    try:
        return EventType(name)
    except ValueError:
        return None


def legacy_name(stored: str) -> str:
    return LEGACY_NAMES.get(stored, str(stored))


def webhook_event(name: object) -> WebhookEvent | None:
    """The event a name means (`delivery`, `Delivered`, ...), or None for no event of ours."""
    text = str(name).strip().lower()
    try:
        return WebhookEvent(LEGACY_NAMES.get(text, text))
    except ValueError:
        return None


def v1_name(event: WebhookEvent) -> str:
    """`delivered` for `delivery`: the name /api/v1 shows."""
    return STORED_TYPES[event.value]
