"""Subscriber lists and subscribers in storage, on SQLite and PostgreSQL: owner scoping, field
value checks, batches, activation, and the history read from deliveries and events."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from storage.accounts import create_user
from storage.engine import Database
from storage.event_log import record_events
from storage.models import Delivery, DeliveryStatus, SubscriberState, utcnow
from storage.subscriber_lists import FieldSpec, add_field, create_list, list_for_owner
from storage.subscribers import (
    Added,
    Entry,
    InvalidFieldValue,
    activate,
    add_subscribers,
    checked_values,
    edit_subscribers,
    history,
)
from tests.storage.support import queue_message


async def test_lists_are_found_only_for_their_owner(db: Database) -> None:
    owner = (await create_user(db.engine, "o@lists.test")).user_id
    other = (await create_user(db.engine, "x@lists.test")).user_id
    list_hash, _ = await create_list(db, owner, "L", "")
    found = await list_for_owner(db, owner, list_hash)
    assert found is not None and found.name == "L"
    assert await list_for_owner(db, other, list_hash) is None
    async with db.engine.connect() as conn:
        assert (await list_for_owner(conn, owner, list_hash)) == found


async def test_values_batches_and_activation(db: Database) -> None:
    owner = (await create_user(db.engine, "o@lists.test")).user_id
    list_hash, [age] = await create_list(db, owner, "L", "", [FieldSpec("Age", "age", True)])
    found = await list_for_owner(db, owner, list_hash)
    assert found is not None
    city = await add_field(db, found.id, FieldSpec("City", "city"))
    fields = [age, city]
    assert checked_values(fields, {"AGE": 3.5, "city": " Kraków "}) == {
        "age": "3.5",
        "city": "Kraków",
    }
    for wrong in ({"age": "x"}, {"zip": "1"}, {"city": ["a"]}, {"city": "x" * 256}, "text"):
        with pytest.raises(InvalidFieldValue):
            checked_values(fields, wrong)
    results = await add_subscribers(
        db, found.id, [Entry("a@x.test", {"age": "1"}), Entry("a@x.test")],
        SubscriberState.AWAITING_ACTIVATION,
    )  # fmt: skip
    assert [r.outcome for r in results] == [Added.INSERTED, Added.EXISTS]
    changes = [Entry("a@x.test", {"city": "C"}), Entry("b@x.test")]
    assert await edit_subscribers(db, found.id, changes, None) == [True, False]
    assert await activate(db, results[0].subscriber_id) is SubscriberState.ACTIVE
    await edit_subscribers(db, found.id, [Entry("a@x.test")], SubscriberState.RESIGNED)
    assert await activate(db, results[0].subscriber_id) is SubscriberState.RESIGNED
    again = await add_subscribers(db, found.id, [Entry("a@x.test")], SubscriberState.ACTIVE)
    assert again[0].outcome is Added.RESUBSCRIBED


async def test_history_counts_opens_and_clicks_of_the_accounts_mail(db: Database) -> None:
    owner = (await create_user(db.engine, "o@lists.test")).user_id
    other = (await create_user(db.engine, "x@lists.test")).user_id
    message_id = await queue_message(db, ["Reader@Example.test"], user_id=owner, subject="Hello")
    await queue_message(db, ["reader@example.test"], user_id=other, subject="Not mine")
    delivered = update(Delivery).where(Delivery.message_id == message_id)
    await db.write(lambda conn: conn.execute(delivered.values(status=DeliveryStatus.DELIVERED)))
    delivery_id = await db.scalar(
        Delivery.__table__.select()
        .with_only_columns(Delivery.id)
        .where(Delivery.message_id == message_id)
    )
    events = [
        {"type": kind, "message_id": message_id, "delivery_id": delivery_id,
         "recipient": "Reader@Example.test", "user_id": owner, "created_at": utcnow(), "data": {}}
        for kind in ("opened", "opened", "clicked")
    ]  # fmt: skip
    await db.write(lambda conn: record_events(conn, events))
    [entry] = await history(db, owner, "reader@example.test", 10)
    assert (entry.subject, entry.state, entry.opens, entry.clicks) == ("Hello", "DELIVERED", 2, 1)
    assert await history(db, owner, "someone@example.test", 10) == []
