"""Writing the event log: every event any part of Mailgate records goes through `record_events`,
inside the caller's transaction, so that whatever must follow an event (the webhook outbox)
is written in that same transaction or not at all, as are the subscriber states events change
(storage/subscriber_states.py).

One exception: a campaign batch writes its recipients' `queued` events with one INSERT ...
SELECT (storage/campaigns/runs.py), set-based like the deliveries beside them. `queued` has no
webhook and changes no subscriber state; an event that gains either must not be written there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select

from storage.event_names import WEBHOOK_EVENTS
from storage.models import Event, OutboxStatus, Webhook, WebhookCall, utcnow
from storage.subscriber_states import follow_events

_INSERT = Event.__table__.insert()
_INSERT_RETURNING_IDS = Event.__table__.insert().returning(Event.id, sort_by_parameter_order=True)
# The enabled webhooks of the batch's sender domains: one indexed query per batch, and on the
# hot path (no webhooks) the only cost webhooks add to recording events.
_WEBHOOKS = select(Webhook.id, Webhook.sender_domain_id, Webhook.event).where(
    Webhook.sender_domain_id.in_(bindparam("domains", expanding=True)),
    Webhook.disabled_at.is_(None),
)
_OUTBOX_INSERT = WebhookCall.__table__.insert()


def record_events(conn: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """Insert `events` (rows of `events`, as storage.event_payloads.EventRecord describes them;
    `type` an EventType or its stored name) with one bulk statement, and one outbox row
    for each enabled webhook of an event's sender domain that subscribes to its type; move the
    subscribers that bounces, complaints and unsubscribes are about."""
    if not events:
        return
    follow_events(conn, events)
    domains = {domain for event in events if (domain := event.get("sender_domain_id")) is not None}
    hooks = conn.execute(_WEBHOOKS, {"domains": sorted(domains)}).all() if domains else []
    if not hooks:
        conn.execute(_INSERT, list(events))
        return
    subscribed: dict[tuple[int | None, str], list[int]] = {}  # (domain, webhook event)
    for hook_id, domain_id, event in hooks:
        subscribed.setdefault((domain_id, event.value), []).append(hook_id)
    ids = conn.execute(_INSERT_RETURNING_IDS, list(events)).scalars().all()
    now = utcnow()
    calls = [
        {
            "event_id": event_id,
            "webhook_id": hook_id,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event_id, event in zip(ids, events, strict=True)
        if (webhook_event := WEBHOOK_EVENTS.get(event["type"])) is not None
        for hook_id in subscribed.get((event.get("sender_domain_id"), webhook_event.value), ())
    ]
    if calls:
        conn.execute(_OUTBOX_INSERT, calls)
