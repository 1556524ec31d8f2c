"""The webhook outbox: filled with the events that webhooks subscribe to, in the events'
transaction; claimed once by concurrent dispatchers; 410 disables; replay makes calls due."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from storage import accounts, domains, webhooks
from storage.engine import Database
from storage.event_log import record_events
from storage.models import Event, OutboxStatus, Webhook, WebhookCall, WebhookEvent, utcnow
from storage.webhook_outbox import (
    Attempt,
    Selection,
    claim_due,
    list_calls,
    load_calls,
    record_attempts,
    replay,
)

URL = "https://hooks.example.com/in"
LEASE = timedelta(minutes=5)


async def new_domain(db: Database, name: str) -> int:
    user_id = (await accounts.create_user(db, f"owner@{name}")).user_id
    return (await domains.add_domain(db, user_id, name, "bounces")).id


def event(kind: str, domain_id: int | None, recipient: str = "jane@example.org") -> dict[str, Any]:
    return {
        "type": kind,
        "message_id": None,
        "delivery_id": None,
        "recipient": recipient,
        "user_id": None,
        "sender_domain_id": domain_id,
        "created_at": utcnow(),
        "data": {"reply": "250 ok"},
    }


async def outbox(db: Database) -> list[tuple[str, str, int]]:
    """(event type, recipient, webhook id) of every outbox row."""
    query = (
        select(Event.type, Event.recipient, WebhookCall.webhook_id)
        .join(Event, Event.id == WebhookCall.event_id)
        .order_by(WebhookCall.id)
    )
    return [tuple(row) for row in (await db.rows(query))]  # type: ignore[misc]


async def test_events_fan_out_to_the_enabled_webhooks_that_subscribe(db: Database) -> None:
    shop = await new_domain(db, "shop.example")
    other = await new_domain(db, "other.example")
    quiet = await new_domain(db, "quiet.example")
    delivery = await webhooks.add_webhook(db, shop, WebhookEvent.DELIVERY, URL)
    delivery_too = await webhooks.add_webhook(db, shop, WebhookEvent.DELIVERY, URL + "2")
    bounce = await webhooks.add_webhook(db, shop, WebhookEvent.BOUNCE, URL)
    off = await webhooks.add_webhook(db, shop, WebhookEvent.COMPLAINT, URL)
    await webhooks.add_webhook(db, other, WebhookEvent.BOUNCE, URL)

    def setup(conn: Connection) -> None:
        conn.execute(update(Webhook).where(Webhook.id == off).values(disabled_at=utcnow()))

    await db.write(setup)
    batch = [
        event("delivered", shop, "a@x.org"),
        event("deferred", shop, "b@x.org"),  # no webhook event is a deferral
        event("bounced", shop, "c@x.org"),
        event("complained", shop, "d@x.org"),  # its webhook is disabled
        event("delivered", other, "e@x.org"),  # other's webhook wants bounces only
        event("bounced", quiet, "f@x.org"),  # no webhooks at all
        event("bounced", None, "g@x.org"),  # no sender domain
    ]
    await db.write(lambda conn: record_events(conn, batch))
    assert await outbox(db) == [
        ("delivered", "a@x.org", delivery),
        ("delivered", "a@x.org", delivery_too),
        ("bounced", "c@x.org", bounce),
    ]
    assert await db.scalar(select(Event.id).where(Event.recipient == "g@x.org"))


async def test_without_webhooks_events_are_recorded_alone(db: Database) -> None:
    quiet = await new_domain(db, "quiet.example")
    await db.write(lambda conn: record_events(conn, [event("delivered", quiet)] * 3))
    assert await outbox(db) == []
    assert len(await db.rows(select(Event.id))) == 3


async def test_concurrent_claims_take_each_call_once_and_leave_busy_webhooks(db: Database) -> None:
    shop = await new_domain(db, "shop.example")
    slow = await webhooks.add_webhook(db, shop, WebhookEvent.DELIVERY, URL)
    fast = await webhooks.add_webhook(db, shop, WebhookEvent.DELIVERY, URL + "/fast")
    await db.write(lambda conn: record_events(conn, [event("delivered", shop)] * 30))
    claims = await asyncio.gather(*(claim_due(db, f"w{n}", 7, LEASE) for n in range(4)))
    ids = [claimed.id for claim in claims for claimed in claim]
    assert len(ids) == len(set(ids)) == 28
    # Leased calls are not due again until their lease runs out; `busy` webhooks are left out.
    rest = await claim_due(db, "w5", 100, LEASE, busy=[slow])
    assert {claimed.webhook_id for claimed in rest} == {fast}
    assert await claim_due(db, "w6", 100, LEASE, busy=[fast]) != []
    assert await claim_due(db, "w7", 100, LEASE) == []
    later = utcnow() + LEASE + timedelta(seconds=1)
    assert len(await claim_due(db, "w8", 100, LEASE, now=later)) == 60


async def test_410_disables_the_webhook_and_its_pending_calls_die_replay_brings_them_back(
    db: Database,
) -> None:
    shop = await new_domain(db, "shop.example")
    gone = await webhooks.add_webhook(db, shop, WebhookEvent.BOUNCE, URL)
    kept = await webhooks.add_webhook(db, shop, WebhookEvent.BOUNCE, URL + "/kept")
    await db.write(lambda conn: record_events(conn, [event("bounced", shop)] * 3))
    claimed = [c for c in await claim_due(db, "w", 100, LEASE) if c.webhook_id == gone][:1]
    [call] = await load_calls(db, [claimed[0].id])
    assert call.signing_key == (await domains.get_domain(db, shop)).webhook_signing_key
    await record_attempts(db, "w", [Attempt(call, OutboxStatus.DEAD, 410, "bye", gone=True)])
    active = {view.webhook_id: view.active for view in await webhooks.list_webhooks(db, shop)}
    assert active == {gone: False, kept: True}
    dead = await list_calls(db, Selection(webhook_id=gone))
    assert [row["Status"] for row in dead] == ["dead"] * 3
    assert {row["LastHTTPStatus"] for row in dead} == {410, None}
    assert [row["Status"] for row in await list_calls(db, Selection(webhook_id=kept))] == [
        "pending"
    ] * 3
    assert await replay(db, Selection(outbox_id=call.id)) == 1
    [again] = await list_calls(db, Selection(outbox_id=call.id))
    assert (again["Status"], again["Attempts"]) == ("pending", 0)
    assert await replay(db, Selection(dead=True, webhook_id=gone)) == 2
    assert await list_calls(db, Selection(dead=True)) == []
