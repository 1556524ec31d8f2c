"""Subscriber lists and their custom fields (003's `/rest/subscribers_list`).

Every lookup is scoped to the owner: a list is found by its hash *and* its user, so that an
account can neither reach nor detect another account's lists.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import Connection, Row, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from storage.engine import Database, changed_rows
from storage.models import ListField, Subscriber, SubscriberList, SubscriberState

T = TypeVar("T")

HASH_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
HASH_LENGTH = 10  # as the document's examples ("4zcnmd2ski")


def new_hash() -> str:
    """A list's or field's public hash: ten random lower-case letters and digits."""
    return "".join(secrets.choice(HASH_ALPHABET) for _ in range(HASH_LENGTH))


_LIST_COLUMNS = (
    SubscriberList.id,
    SubscriberList.user_id,
    SubscriberList.hash,
    SubscriberList.name,
    SubscriberList.description,
    SubscriberList.created_at,
)
# A list's row: id, user_id, hash, name, description, created_at.
ListRow: TypeAlias = Row[int, int, str, str, str, datetime]
_BY_OWNER_AND_HASH = select(*_LIST_COLUMNS).where(
    SubscriberList.user_id == bindparam("user_id"), SubscriberList.hash == bindparam("hash")
)


def find_list(conn: Connection, user_id: int, list_hash: str) -> ListRow | None:
    """The owner's list with this hash (columns of SubscriberList), inside a transaction."""
    params = {"user_id": user_id, "hash": str(list_hash)}
    return conn.execute(_BY_OWNER_AND_HASH, params).first()


async def list_for_owner(db: Database, user_id: int, list_hash: str) -> ListRow | None:
    """The owner's list with this hash (id, user_id, hash, name, description, created_at),
    or None when there is none or it belongs to another account."""
    return await db.first(_BY_OWNER_AND_HASH, {"user_id": user_id, "hash": str(list_hash)})


class InvalidTag(ValueError):
    """A personalization tag that is not letters, digits and underscores (or is empty)."""


TAG_LIMIT = 64  # the column's size
_TAG = re.compile(r"[a-z0-9_]+")


def tag_from_name(name: str) -> str:
    """The tag made for a field named `name` when none is given: its letters and digits with
    accents dropped, lower case, other runs of characters as one underscore
    ("Kod promocji łódź" -> "kod_promocji_lodz")."""
    folded = unicodedata.normalize("NFKD", name.replace("ł", "l").replace("Ł", "L"))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "_", ascii_only).strip("_")[:TAG_LIMIT]


def checked_tag(tag: str) -> str:
    """A tag as stored and matched: lower case (tags are matched without regard to case);
    raises InvalidTag unless it is only letters, digits and underscores."""
    lowered = tag.strip().lower()
    if not _TAG.fullmatch(lowered) or len(lowered) > TAG_LIMIT:
        raise InvalidTag(tag)
    return lowered


@dataclass(frozen=True)
class FieldSpec:
    name: str
    tag: str  # checked_tag's form
    numeric: bool = False


@dataclass(frozen=True)
class FieldView:
    id: int
    hash: str
    name: str
    tag: str
    numeric: bool


@dataclass(frozen=True)
class ListSummary:
    id: int
    hash: str
    name: str
    description: str
    created_at: datetime
    subscribers_number: int  # active subscribers (state 1)


class DuplicateTag(ValueError):
    """A field with this tag already exists on the list (or twice in one request)."""


_FIELD_COLUMNS = (ListField.id, ListField.hash, ListField.name, ListField.tag, ListField.numeric)
_FIELDS_OF = (
    select(*_FIELD_COLUMNS).where(ListField.list_id == bindparam("list_id")).order_by(ListField.id)
)


def _insert_field(conn: Connection, list_id: int, spec: FieldSpec) -> FieldView:
    field_hash = new_hash()
    inserted = conn.execute(
        ListField.__table__.insert()
        .values(
            list_id=list_id, hash=field_hash, name=spec.name, tag=spec.tag, numeric=spec.numeric
        )
        .returning(ListField.id)
    )
    return FieldView(int(inserted.scalar_one()), field_hash, spec.name, spec.tag, spec.numeric)


def _unique_tags(specs: Sequence[FieldSpec]) -> None:
    tags = [spec.tag for spec in specs]
    if len(set(tags)) != len(tags):
        raise DuplicateTag("the same tag is given twice")


async def create_list(
    db: Database, user_id: int, name: str, description: str, fields: Sequence[FieldSpec] = ()
) -> tuple[str, list[FieldView]]:
    """A new list of the account with its custom fields, in one transaction: (hash, fields).
    Raises DuplicateTag when two fields share a tag."""
    _unique_tags(fields)

    def work(conn: Connection) -> tuple[str, list[FieldView]]:
        list_hash = new_hash()
        inserted = conn.execute(
            SubscriberList.__table__.insert()
            .values(user_id=user_id, hash=list_hash, name=name, description=description)
            .returning(SubscriberList.id)
        )
        list_id = int(inserted.scalar_one())
        return list_hash, [_insert_field(conn, list_id, spec) for spec in fields]

    return await retrying_hash_clash(db, work)


async def retrying_hash_clash(db: Database, work: Callable[[Connection], T]) -> T:
    """Run `work`; a new hash that happened to be taken (one in 36^10) is drawn again."""
    for attempt in range(3):
        try:
            return await db.write(work)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def update_list(
    db: Database, user_id: int, list_hash: str, name: str, description: str | None
) -> bool:
    """Rename the owner's list (and change its description when one is given); False when the
    owner has no such list."""
    values: dict[str, Any] = {"name": name}
    if description is not None:
        values["description"] = description
    statement = (
        update(SubscriberList)
        .where(SubscriberList.user_id == user_id, SubscriberList.hash == str(list_hash))
        .values(**values)
    )
    return await changed_rows(db, statement) == 1


async def delete_list(db: Database, user_id: int, list_hash: str) -> bool:
    """Delete the owner's list with its fields and subscribers (by cascade); False when the
    owner has no such list."""

    def work(conn: Connection) -> bool:
        found = find_list(conn, user_id, list_hash)
        if found is None:
            return False
        # Children first: SQLite connections of other tools may run without foreign keys.
        conn.execute(delete(Subscriber).where(Subscriber.list_id == found.id))
        conn.execute(delete(ListField).where(ListField.list_id == found.id))
        conn.execute(delete(SubscriberList).where(SubscriberList.id == found.id))
        return True

    return await db.write(work)


_ACTIVE_COUNT = (
    select(func.count())
    .where(Subscriber.list_id == SubscriberList.id, Subscriber.state == SubscriberState.ACTIVE)
    .correlate(SubscriberList)
    .scalar_subquery()
)
_LISTS_OF = (
    select(
        SubscriberList.id,
        SubscriberList.hash,
        SubscriberList.name,
        SubscriberList.description,
        SubscriberList.created_at,
        _ACTIVE_COUNT,
    )
    .where(SubscriberList.user_id == bindparam("user_id"))
    .order_by(SubscriberList.id)
)


async def lists_of(db: Database, user_id: int) -> list[ListSummary]:
    """The account's lists, oldest first, with their numbers of active subscribers."""
    rows = await db.rows(_LISTS_OF, {"user_id": user_id})
    return [ListSummary(*row) for row in rows]


async def add_field(db: Database, list_id: int, spec: FieldSpec) -> FieldView:
    """A new custom field on the list; raises DuplicateTag when the list has the tag."""

    def work(conn: Connection) -> FieldView:
        if any(row.tag == spec.tag for row in conn.execute(_FIELDS_OF, {"list_id": list_id})):
            raise DuplicateTag(spec.tag)
        return _insert_field(conn, list_id, spec)

    try:
        return await retrying_hash_clash(db, work)
    except IntegrityError:
        raise DuplicateTag(spec.tag) from None  # the same tag added at the same moment


def fields_in(conn: Connection, list_id: int) -> list[FieldView]:
    """The list's custom fields, oldest first, inside a transaction."""
    return [FieldView(*row) for row in conn.execute(_FIELDS_OF, {"list_id": list_id})]


async def fields_of(db: Database, list_id: int) -> list[FieldView]:
    """The list's custom fields, oldest first."""
    return [FieldView(*row) for row in await db.rows(_FIELDS_OF, {"list_id": list_id})]
