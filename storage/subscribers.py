"""Subscribers of lists (003's `/rest/subscriber`): one address on one list, its state and its
custom field values by tag.

Callers find the list for its owner first (storage.subscriber_lists.list_for_owner) and pass its
id; every operation here is scoped to that one list. Addresses are stored and matched in lower
case. Batches (the `...Multiple` actions, up to 100 addresses) run in one transaction.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from storage.dialects import dialect_insert
from storage.engine import Database
from storage.models import (
    Subscriber,
    SubscriberList,
    SubscriberState,
    utcnow,
)
from storage.subscriber_lists import FieldView

VALUE_LIMIT = 255  # characters of one custom field value
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
# States a subscriber is "on the list" in: adding such an address again is refused (1304).
SUBSCRIBED = frozenset({SubscriberState.ACTIVE, SubscriberState.AWAITING_ACTIVATION})


class InvalidFieldValue(ValueError):
    """A custom field value the list cannot take: an unknown tag, a value that is not a
    string or number, too long, or not a number for a numeric field."""


def checked_values(fields: Sequence[FieldView], given: Any) -> dict[str, str]:
    """`given` ({tag: value}) as stored: tags matched without regard to case, values as
    strings. Raises InvalidFieldValue for anything the list's fields do not allow."""
    if given is None or given == [] or given == "":
        return {}
    if not isinstance(given, Mapping):
        raise InvalidFieldValue("custom_fields must be an object of tags and values")
    by_tag = {f.tag: f for f in fields}
    values: dict[str, str] = {}
    for tag, value in given.items():
        known = by_tag.get(str(tag).strip().lower())
        if known is None:
            raise InvalidFieldValue(f"no custom field with the tag {tag!r} on this list")
        values[known.tag] = _checked_value(known, value)
    return values


def _checked_value(known: FieldView, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidFieldValue(f"{known.tag}: the value must be text or a number")
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > VALUE_LIMIT:
        raise InvalidFieldValue(f"{known.tag}: longer than {VALUE_LIMIT} characters")
    if known.numeric and text and not _NUMBER.fullmatch(text):
        raise InvalidFieldValue(f"{known.tag}: a numeric field takes numbers only")
    return text


@dataclass(frozen=True)
class Entry:
    """One address of a request, normalised, with its checked custom field values."""

    email: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscriberView:
    id: int
    email: str
    state: SubscriberState
    custom_fields: dict[str, Any]


class Added(enum.Enum):
    INSERTED = "inserted"  # a new address on the list
    RESUBSCRIBED = "resubscribed"  # an address that had left (3, 4, 5, 8) back in `state`
    EXISTS = "exists"  # already active or awaiting activation: nothing changed


@dataclass(frozen=True)
class AddResult:
    email: str
    outcome: Added
    subscriber_id: int


_COLUMNS = (Subscriber.id, Subscriber.email, Subscriber.state, Subscriber.custom_fields)
_BY_EMAILS = select(*_COLUMNS).where(
    Subscriber.list_id == bindparam("list_id"),
    Subscriber.email.in_(bindparam("emails", expanding=True)),
)


def _view(row: Any) -> SubscriberView:
    return SubscriberView(row.id, row.email, SubscriberState(row.state), dict(row.custom_fields))


def _existing(conn: Connection, list_id: int, emails: Sequence[str]) -> dict[str, SubscriberView]:
    rows = conn.execute(_BY_EMAILS, {"list_id": list_id, "emails": list(emails)})
    return {row.email: _view(row) for row in rows}


def _add_one(
    conn: Connection,
    list_id: int,
    entry: Entry,
    state: SubscriberState,
    existing: SubscriberView | None,
) -> AddResult:
    now = utcnow()
    if existing is None:
        inserted = conn.execute(
            dialect_insert(conn)(Subscriber)
            .values(list_id=list_id, email=entry.email, state=state, custom_fields=entry.values,
                    created_at=now, updated_at=now,
                    confirmed_at=now if state is SubscriberState.ACTIVE else None)
            .on_conflict_do_nothing(index_elements=[Subscriber.list_id, Subscriber.email])
            .returning(Subscriber.id)
        ).scalar()  # fmt: skip
        if inserted is not None:
            return AddResult(entry.email, Added.INSERTED, int(inserted))
        # Another transaction added the address since it was looked up (on PostgreSQL, nodes
        # and workers write at once): it is there now, so take it as found.
        existing = _existing(conn, list_id, [entry.email])[entry.email]
    if existing.state in SUBSCRIBED:
        return AddResult(entry.email, Added.EXISTS, existing.id)
    _update(conn, existing, state, entry.values)
    return AddResult(entry.email, Added.RESUBSCRIBED, existing.id)


def _update(
    conn: Connection,
    existing: SubscriberView,
    state: SubscriberState | None,
    values: Mapping[str, str],
) -> None:
    changes: dict[str, Any] = {
        "custom_fields": {**existing.custom_fields, **values},
        "updated_at": utcnow(),
    }
    if state is not None:
        changes["state"] = state
        if state is SubscriberState.ACTIVE and existing.state is not SubscriberState.ACTIVE:
            changes["confirmed_at"] = changes["updated_at"]
    conn.execute(update(Subscriber).where(Subscriber.id == existing.id).values(**changes))


async def add_subscribers(
    db: Database, list_id: int, entries: Sequence[Entry], state: SubscriberState
) -> list[AddResult]:
    """Add each address to the list in `state` (one transaction). An address already active or
    awaiting activation is left as it is (Added.EXISTS); one that had left the list (inactive,
    resigned, bounced) takes `state` and the new values (Added.RESUBSCRIBED). An address given
    twice is added once; the later mention reads as already there."""

    def work(conn: Connection) -> list[AddResult]:
        existing = _existing(conn, list_id, [entry.email for entry in entries])
        results = []
        for entry in entries:
            result = _add_one(conn, list_id, entry, state, existing.get(entry.email))
            if result.outcome is not Added.EXISTS:
                existing[entry.email] = SubscriberView(
                    result.subscriber_id, entry.email, state, entry.values
                )
            results.append(result)
        return results

    return await db.write(work)


async def edit_subscribers(
    db: Database, list_id: int, entries: Sequence[Entry], state: SubscriberState | None
) -> list[bool]:
    """Set the state (None: unchanged) and merge the given values into each subscriber's; one
    flag per entry, False where the address is not on the list."""

    def work(conn: Connection) -> list[bool]:
        existing = _existing(conn, list_id, [entry.email for entry in entries])
        found = []
        for entry in entries:
            current = existing.get(entry.email)
            if current is not None:
                _update(conn, current, state, entry.values)
                merged = {**current.custom_fields, **entry.values}
                existing[entry.email] = SubscriberView(
                    current.id, current.email, state or current.state, merged
                )
            found.append(current is not None)
        return found

    return await db.write(work)


async def subscribers_by_email(
    db: Database, list_id: int, emails: Sequence[str]
) -> dict[str, SubscriberView]:
    """The list's subscribers among `emails`, by address."""
    rows = await db.rows(_BY_EMAILS, {"list_id": list_id, "emails": list(emails)})
    return {row.email: _view(row) for row in rows}


async def delete_subscribers(db: Database, list_id: int, emails: Sequence[str]) -> set[str]:
    """Remove the addresses from the list; returns those that were on it."""

    def work(conn: Connection) -> set[str]:
        existing = _existing(conn, list_id, emails)
        if existing:
            ids = [view.id for view in existing.values()]
            conn.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
        return set(existing)

    return await db.write(work)


@dataclass(frozen=True)
class ActivationTarget:
    id: int
    list_id: int
    email: str
    state: SubscriberState


async def activation_target(db: Database, subscriber_id: int) -> ActivationTarget | None:
    query = select(Subscriber.id, Subscriber.list_id, Subscriber.email, Subscriber.state).where(
        Subscriber.id == subscriber_id
    )
    row = await db.first(query)
    return (
        None if row is None else ActivationTarget(row[0], row[1], row[2], SubscriberState(row[3]))
    )


CONFIRMABLE = frozenset({SubscriberState.AWAITING_ACTIVATION, SubscriberState.INACTIVE})


async def activate(db: Database, subscriber_id: int) -> SubscriberState | None:
    """Confirm a subscription: a subscriber awaiting activation (or whose confirmation had
    lapsed) becomes active. Returns the state after, None when the subscriber is gone. One who
    resigned or bounced meanwhile stays as they are."""

    def work(conn: Connection) -> SubscriberState | None:
        now = utcnow()
        conn.execute(
            update(Subscriber)
            .where(Subscriber.id == subscriber_id, Subscriber.state.in_(list(CONFIRMABLE)))
            .values(state=SubscriberState.ACTIVE, confirmed_at=now, updated_at=now)
        )
        state = conn.execute(select(Subscriber.state).where(Subscriber.id == subscriber_id))
        found = state.scalar_one_or_none()
        return None if found is None else SubscriberState(found)

    return await db.write(work)


_OWNED_LIST = select(SubscriberList.id).where(
    SubscriberList.id == bindparam("list_id"), SubscriberList.user_id == bindparam("user_id")
)
_OWNED_SUBSCRIBER = (
    select(Subscriber.list_id)
    .join(SubscriberList, SubscriberList.id == Subscriber.list_id)
    .where(
        Subscriber.id == bindparam("subscriber_id"), SubscriberList.user_id == bindparam("user_id")
    )
)
_ACTIVE_EMAILS = (
    select(Subscriber.email)
    .where(Subscriber.list_id == bindparam("list_id"), Subscriber.state == SubscriberState.ACTIVE)
    .order_by(Subscriber.id)
    .limit(bindparam("limit"))
)


async def owns_list(db: Database, user_id: int, list_id: int) -> bool:
    """Whether the list with this numeric id is the user's (the ids /rest lists show)."""
    return await db.scalar(_OWNED_LIST, {"list_id": list_id, "user_id": user_id}) is not None


async def subscriber_list_of(db: Database, user_id: int, subscriber_id: int) -> int | None:
    """The list of the user's subscriber with this id, or None (none, or another's)."""
    params = {"subscriber_id": subscriber_id, "user_id": user_id}
    found = await db.scalar(_OWNED_SUBSCRIBER, params)
    return int(found) if found is not None else None


async def active_emails(db: Database, list_id: int, limit: int) -> list[str]:
    """Up to `limit` addresses of the list's active subscribers, oldest first."""
    rows = await db.rows(_ACTIVE_EMAILS, {"list_id": list_id, "limit": limit})
    return [str(row.email) for row in rows]
