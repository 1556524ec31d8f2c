"""Event types are one closed set (EventType), stored as their names in `events.type`: every
type round-trips through the table, a name that is no type is refused on write and matches
nothing as a filter, and the legacy (/api.php, webhook) names map both ways. The bounce keys a
writer puts in `data` are the ones the readers take."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from storage import accounts, domains
from storage.engine import Database
from storage.event_log import record_events
from storage.event_names import (
    EventType,
    WebhookEvent,
    legacy_name,
    stored_type,
    v1_name,
    webhook_event,
)
from storage.event_payloads import BounceType, bounce_fields, is_bad_address
from storage.events import EventQuery, list_events
from storage.models import Event, utcnow

LEGACY = [
    (EventType.DELIVERED, "delivery", WebhookEvent.DELIVERY),
    (EventType.BOUNCED, "bounce", WebhookEvent.BOUNCE),
    (EventType.COMPLAINED, "complaint", WebhookEvent.COMPLAINT),
    (EventType.OPENED, "open", WebhookEvent.OPEN),
    (EventType.CLICKED, "click", WebhookEvent.CLICK),
    (EventType.UNSUBSCRIBED, "unsubscribe", WebhookEvent.UNSUBSCRIBE),
    (EventType.RECEIVED, "received", None),
    (EventType.QUEUED, "queued", None),
    (EventType.DEFERRED, "deferred", None),
    (EventType.FAILED, "failed", None),
]


@pytest.mark.parametrize(("stored", "legacy", "hook"), LEGACY)
def test_each_type_has_its_names(stored: EventType, legacy: str, hook: WebhookEvent | None) -> None:
    assert legacy_name(stored) == legacy and type(legacy_name(stored)) is str
    assert stored_type(stored.value) is stored
    assert webhook_event(legacy) == hook and webhook_event(stored.value.title()) == hook
    if hook is not None:
        assert v1_name(hook) == stored.value


@pytest.mark.parametrize("name", ["", "delivery", "sent", "Delivered", "bogus"])
def test_a_name_stored_as_no_type_is_none(name: str) -> None:
    assert stored_type(name) is None


@pytest.mark.parametrize(
    ("hard", "suppressed", "data", "bad"),
    [
        (True, True, {"bounce_type": "hard", "address_suppressed": True}, True),
        (True, False, {"bounce_type": "hard", "address_suppressed": False}, False),
        (False, False, {"bounce_type": "soft", "address_suppressed": False}, False),
        (False, None, {"bounce_type": "soft"}, False),
    ],
)
def test_bounce_fields_are_what_readers_take(
    hard: bool, suppressed: bool | None, data: dict[str, object], bad: bool
) -> None:
    fields = bounce_fields(hard, address_suppressed=suppressed)
    assert fields == data and is_bad_address(fields) is bad
    assert is_bad_address(data) is bad  # as read back from the JSON column
    assert fields["bounce_type"] in (BounceType.HARD, BounceType.SOFT)


async def test_every_type_round_trips_and_filters(db: Database) -> None:
    user = (await accounts.create_user(db, "events@names.test")).user_id
    domain = (await domains.add_domain(db, user, "names.test", "bounces")).id
    rows = [
        {"type": kind, "recipient": f"{kind.value}@x.test", "user_id": user}
        | {"sender_domain_id": domain, "created_at": utcnow(), "data": {}}
        for kind in EventType
    ]
    rows.append({**rows[0], "type": "queued"})  # a stored name is taken as its type
    await db.write(lambda conn: record_events(conn, rows))
    stored = [row[0] for row in await db.rows(select(Event.type).order_by(Event.id))]
    assert stored == [*EventType, EventType.QUEUED]
    assert all(type(kind) is EventType for kind in stored)

    async def matching(*types: str) -> int:
        total, _ = await list_events(db, EventQuery(domain_id=domain, types=types))
        return total

    assert await matching("bounced") == 1 and await matching("queued") == 2
    assert await matching("bogus") == 0  # no type of ours: nothing, not everything, no error
    assert await matching("bogus", "opened") == 1
    with pytest.raises(StatementError):  # a type that is not one is refused, not stored
        await db.write(lambda conn: record_events(conn, [{**rows[0], "type": "bogus"}]))
