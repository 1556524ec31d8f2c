"""Deleting a sender domain, as the API's deletedomain and `mailgate domain delete` both do it:
its pending mail is failed in the same transaction, other domains' mail and finished mail are
left alone, and an owner's deletion reaches only the owner's domains."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from storage import accounts, credentials, domains
from storage.engine import Database
from storage.models import Delivery, DeliveryStatus, Event, Message, SenderDomain, SmtpCredential
from tests.storage.support import queue_message


async def new_domain(db: Database, name: str) -> tuple[int, int]:
    """(user id, domain id) of a new user's new domain, with one SMTP credential."""
    user_id = (await accounts.create_user(db, f"owner@{name}")).user_id
    domain = await domains.add_domain(db, user_id, name, "bounces")
    await credentials.add_credential(db, domain.id)
    return user_id, domain.id


async def statuses(db: Database, message_id: uuid.UUID) -> dict[str, str]:
    query = select(Delivery.recipient, Delivery.status).where(Delivery.message_id == message_id)
    return {recipient: str(status) for recipient, status in await db.rows(query)}


async def test_deleting_a_domain_fails_its_pending_mail_only(db: Database) -> None:
    user_id, doomed = await new_domain(db, "doomed.example")
    _, kept = await new_domain(db, "kept.example")
    pending = await queue_message(
        db, ["a@dest.example", "b@dest.example"], user_id=user_id, sender_domain_id=doomed
    )

    def setup(conn: Connection) -> None:
        conn.execute(
            update(Delivery)
            .where(Delivery.message_id == pending, Delivery.recipient == "b@dest.example")
            .values(status=DeliveryStatus.DELIVERED)
        )

    await db.write(setup)
    other = await queue_message(db, ["c@dest.example"], sender_domain_id=kept)

    assert await domains.delete_domain(db, doomed) == 1  # the operator's: any owner
    assert await statuses(db, pending) == {
        "a@dest.example": "failed",
        "b@dest.example": "delivered",
    }
    assert await statuses(db, other) == {"c@dest.example": "queued"}
    failed = await db.rows(select(Event.recipient, Event.data).where(Event.type == "failed"))
    owner = await db.scalar(select(Message.sender_domain_id).where(Message.id == pending))
    left = [row[0] for row in await db.rows(select(SmtpCredential.domain_id))]
    names = [row[0] for row in await db.rows(select(SenderDomain.name))]
    assert [(r, d["reply"]) for r, d in failed] == [
        ("a@dest.example", domains.DELETED_DOMAIN_REASON)
    ]
    assert owner is None  # the message stays, without its domain
    assert (left, names) == ([kept], ["kept.example"])
    with pytest.raises(domains.NotFound):
        await domains.delete_domain(db, doomed)


async def test_an_owner_deletes_only_its_own_domains(db: Database) -> None:
    owner, domain_id = await new_domain(db, "owned.example")
    stranger, _ = await new_domain(db, "stranger.example")
    message_id = await queue_message(db, ["x@dest.example"], sender_domain_id=domain_id)

    with pytest.raises(domains.NotFound):
        await domains.delete_domain(db, domain_id, stranger)
    assert await statuses(db, message_id) == {"x@dest.example": "queued"}
    assert (await domains.get_domain(db, domain_id)).user_id == owner

    assert await domains.delete_domain(db, domain_id, owner) == 1
    assert await statuses(db, message_id) == {"x@dest.example": "failed"}
