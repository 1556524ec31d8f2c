"""The names of events, in one map: how they are stored (`delivered`, `bounced`, ...: the
/api/v1 names), how /api.php shows them (`delivery`, `bounce`, ...: the legacy names, which are
also the events a webhook subscribes to, `WebhookEvent`). Types without a legacy name (`queued`,
`deferred`, `failed`) are shown as stored and have no webhook."""

from __future__ import annotations

from storage.models import WebhookEvent

# Stored event type -> the legacy name /api.php shows.
LEGACY_NAMES = {
    "delivered": "delivery",
    "bounced": "bounce",
    "complained": "complaint",
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
}
STORED_TYPES = {legacy: stored for stored, legacy in LEGACY_NAMES.items()}
# Stored event type -> the webhook event it is delivered to.
WEBHOOK_EVENTS = {stored: WebhookEvent(legacy) for stored, legacy in LEGACY_NAMES.items()}


def legacy_name(stored: str) -> str:
    return LEGACY_NAMES.get(stored, stored)


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
