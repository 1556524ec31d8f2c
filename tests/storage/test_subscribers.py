"""Subscriber lists and subscribers in storage, on SQLite and PostgreSQL: owner scoping, field
value checks, batches and activation (a subscriber's history: test_campaign_reports.py)."""

from __future__ import annotations

import asyncio

import pytest

from storage.accounts import create_user
from storage.engine import Database
from storage.models import SubscriberState
from storage.subscriber_lists import FieldSpec, add_field, create_list, list_for_owner
from storage.subscribers import (
    Added,
    Entry,
    InvalidFieldValue,
    activate,
    add_subscribers,
    checked_values,
    edit_subscribers,
)


async def test_lists_are_found_only_for_their_owner(db: Database) -> None:
    owner = (await create_user(db, "o@lists.test")).user_id
    other = (await create_user(db, "x@lists.test")).user_id
    list_hash, _ = await create_list(db, owner, "L", "")
    found = await list_for_owner(db, owner, list_hash)
    assert found is not None and found.name == "L"
    assert await list_for_owner(db, other, list_hash) is None


async def test_values_batches_and_activation(db: Database) -> None:
    owner = (await create_user(db, "o@lists.test")).user_id
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


async def test_the_same_address_added_at_once_from_two_nodes_is_added_once(db_url: str) -> None:
    """Two Database objects are two nodes (or workers): each adds the same addresses at the same
    moment. One insert wins per address and the other finds it there (on PostgreSQL the loser
    raised a unique violation: an HTTP 500 for /rest/subscriber/add)."""
    first, second = Database(db_url), Database(db_url)
    try:
        owner = (await create_user(first, "o@race.test")).user_id
        list_hash, _ = await create_list(first, owner, "L", "")
        found = await list_for_owner(first, owner, list_hash)
        assert found is not None
        emails = [f"r{n}@x.test" for n in range(10)]
        batches = await asyncio.gather(
            *(
                add_subscribers(db, found.id, [Entry(email)], SubscriberState.ACTIVE)
                for email in emails
                for db in (first, second, first, second)
            )
        )
        outcomes = [result.outcome for batch in batches for result in batch]
        assert outcomes.count(Added.INSERTED) == len(emails)
        assert outcomes.count(Added.EXISTS) == 3 * len(emails)
        ids = {result.email: result.subscriber_id for batch in batches for result in batch}
        assert len(set(ids.values())) == len(emails)
    finally:
        await first.dispose()
        await second.dispose()
