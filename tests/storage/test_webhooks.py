"""Webhook rows: one per domain, event and URL however often (or however concurrently) it is
added, and every operation scoped to its domain."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.engine import Connection

from storage import accounts, domains, webhooks
from storage.engine import Database
from storage.models import Webhook, WebhookEvent

URL = "https://hooks.example.com/in"


async def new_domain(db: Database, name: str) -> int:
    user_id = (await accounts.create_user(db, f"owner@{name}")).user_id
    return (await domains.add_domain(db, user_id, name, "bounces")).id


async def test_concurrent_adds_of_one_webhook_make_one_row(db: Database) -> None:
    domain_id = await new_domain(db, "race.example")
    ids = await asyncio.gather(
        *(webhooks.add_webhook(db, domain_id, WebhookEvent.BOUNCE, URL) for _ in range(8))
    )
    assert len(set(ids)) == 1
    assert [item.webhook_id for item in await webhooks.list_webhooks(db, domain_id)] == ids[:1]


async def test_adding_a_disabled_webhook_again_enables_it(db: Database) -> None:
    domain_id = await new_domain(db, "gone.example")
    webhook_id = await webhooks.add_webhook(db, domain_id, WebhookEvent.OPEN, URL)

    def setup(conn: Connection) -> None:
        conn.execute(
            update(Webhook).where(Webhook.id == webhook_id).values(disabled_at=Webhook.created_at)
        )

    await db.write(setup)
    [disabled] = await webhooks.list_webhooks(db, domain_id)
    assert not disabled.active
    assert await webhooks.add_webhook(db, domain_id, WebhookEvent.OPEN, URL) == webhook_id
    [enabled] = await webhooks.list_webhooks(db, domain_id)
    assert enabled == webhooks.WebhookView(webhook_id, WebhookEvent.OPEN, URL, True)


async def test_delete_is_scoped_to_the_domain(db: Database) -> None:
    mine = await new_domain(db, "mine.example")
    theirs = await new_domain(db, "theirs.example")
    webhook_id = await webhooks.add_webhook(db, mine, WebhookEvent.CLICK, URL)
    assert await webhooks.delete_webhook(db, webhook_id, theirs) is False
    assert len(await webhooks.list_webhooks(db, mine)) == 1
    assert await webhooks.delete_webhook(db, webhook_id, mine) is True
    assert await webhooks.delete_webhook(db, webhook_id, mine) is False
    assert await webhooks.list_webhooks(db, mine) == []


async def test_webhooks_go_with_their_domain(db: Database) -> None:
    domain_id = await new_domain(db, "deleted.example")
    user_id = (await domains.get_domain(db, domain_id)).user_id
    await webhooks.add_webhook(db, domain_id, WebhookEvent.DELIVERY, URL)
    await domains.delete_domain(db, domain_id, user_id)
    assert await webhooks.list_webhooks(db, domain_id) == []
