"""A sender domain's webhooks: the URL to call for each event type. Every operation is scoped to
one domain, so that a caller who was shown to hold a domain reaches only that domain's webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storage.engine import Database, changed_rows
from storage.models import Webhook, WebhookEvent

MAX_URL_LENGTH = 2048  # the column's size


@dataclass(frozen=True)
class WebhookView:
    webhook_id: int
    event: WebhookEvent
    url: str
    active: bool  # False once deliveries disabled it (the endpoint answered 410 Gone)


def _same(domain_id: int, event: WebhookEvent, url: str) -> Select[int, datetime | None]:
    return select(Webhook.id, Webhook.disabled_at).where(
        Webhook.sender_domain_id == domain_id, Webhook.event == event, Webhook.url == url
    )


async def add_webhook(db: Database, domain_id: int, event: WebhookEvent, url: str) -> int:
    """The webhook's id. Adding the same domain, event and URL again returns the existing id,
    so that a client retrying after a lost answer does not subscribe twice; a webhook that
    deliveries had disabled is enabled again, since its owner asked for it anew."""

    def work(conn: Connection) -> int:
        row = conn.execute(_same(domain_id, event, url)).first()
        if row is not None:
            if row.disabled_at is not None:
                conn.execute(update(Webhook).where(Webhook.id == row.id).values(disabled_at=None))
            return int(row.id)
        inserted = conn.execute(
            Webhook.__table__.insert()
            .values(sender_domain_id=domain_id, event=event, url=url)
            .returning(Webhook.id)
        )
        return int(inserted.scalar_one())

    for attempt in range(2):
        try:
            return await db.write(work)
        except IntegrityError:
            # The same webhook added at the same moment by another request: the next pass
            # finds it. Anything else (the domain deleted meanwhile) fails again and is raised.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def list_webhooks(db: Database, domain_id: int) -> list[WebhookView]:
    """The domain's webhooks, oldest first."""
    query = (
        select(Webhook.id, Webhook.event, Webhook.url, Webhook.disabled_at)
        .where(Webhook.sender_domain_id == domain_id)
        .order_by(Webhook.id)
    )
    rows = await db.rows(query)
    return [WebhookView(row.id, row.event, row.url, row.disabled_at is None) for row in rows]


async def delete_webhook(db: Database, webhook_id: int, domain_id: int) -> bool:
    """Remove a webhook of this domain; False when there is none by that id here (it may be
    another domain's, which this caller must not be able to touch or detect)."""
    statement = Webhook.__table__.delete().where(
        Webhook.id == webhook_id, Webhook.sender_domain_id == domain_id
    )
    return await changed_rows(db, statement) == 1
