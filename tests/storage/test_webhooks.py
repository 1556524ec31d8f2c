"""Webhook rows: one per domain, event and URL however often (or however concurrently) it is
added, and every operation scoped to its domain."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import accounts, domains, webhooks
from storage.models import Webhook, WebhookEvent

URL = "https://hooks.example.com/in"


async def new_domain(engine: AsyncEngine, name: str) -> int:
    user_id = (await accounts.create_user(engine, f"owner@{name}")).user_id
    return (await domains.add_domain(engine, user_id, name, "bounces")).id


async def test_concurrent_adds_of_one_webhook_make_one_row(engine: AsyncEngine) -> None:
    domain_id = await new_domain(engine, "race.example")
    ids = await asyncio.gather(
        *(webhooks.add_webhook(engine, domain_id, WebhookEvent.BOUNCE, URL) for _ in range(8))
    )
    assert len(set(ids)) == 1
    assert [item.webhook_id for item in await webhooks.list_webhooks(engine, domain_id)] == ids[:1]


async def test_adding_a_disabled_webhook_again_enables_it(engine: AsyncEngine) -> None:
    domain_id = await new_domain(engine, "gone.example")
    webhook_id = await webhooks.add_webhook(engine, domain_id, WebhookEvent.OPEN, URL)
    async with engine.begin() as conn:
        await conn.execute(
            update(Webhook).where(Webhook.id == webhook_id).values(disabled_at=Webhook.created_at)
        )
    [disabled] = await webhooks.list_webhooks(engine, domain_id)
    assert not disabled.active
    assert await webhooks.add_webhook(engine, domain_id, WebhookEvent.OPEN, URL) == webhook_id
    [enabled] = await webhooks.list_webhooks(engine, domain_id)
    assert enabled == webhooks.WebhookView(webhook_id, WebhookEvent.OPEN, URL, True)


async def test_delete_is_scoped_to_the_domain(engine: AsyncEngine) -> None:
    mine = await new_domain(engine, "mine.example")
    theirs = await new_domain(engine, "theirs.example")
    webhook_id = await webhooks.add_webhook(engine, mine, WebhookEvent.CLICK, URL)
    assert await webhooks.delete_webhook(engine, webhook_id, theirs) is False
    assert len(await webhooks.list_webhooks(engine, mine)) == 1
    assert await webhooks.delete_webhook(engine, webhook_id, mine) is True
    assert await webhooks.delete_webhook(engine, webhook_id, mine) is False
    assert await webhooks.list_webhooks(engine, mine) == []


async def test_webhooks_go_with_their_domain(engine: AsyncEngine) -> None:
    domain_id = await new_domain(engine, "deleted.example")
    user_id = (await domains.get_domain(engine, domain_id)).user_id
    await webhooks.add_webhook(engine, domain_id, WebhookEvent.DELIVERY, URL)
    await domains.delete_domain(engine, domain_id, user_id)
    assert await webhooks.list_webhooks(engine, domain_id) == []
