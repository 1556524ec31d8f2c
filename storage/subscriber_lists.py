"""Subscriber lists and their custom fields (003's `/rest/subscribers_list`).

Every lookup is scoped to the owner: a list is found by its hash *and* its user, so that an
account can neither reach nor detect another account's lists.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import Database
from storage.models import SubscriberList

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
_BY_OWNER_AND_HASH: Select[Any] = select(*_LIST_COLUMNS).where(
    SubscriberList.user_id == bindparam("user_id"), SubscriberList.hash == bindparam("hash")
)


def find_list(conn: Connection, user_id: int, list_hash: str) -> Row[Any] | None:
    """The owner's list with this hash (columns of SubscriberList), inside a transaction."""
    params = {"user_id": user_id, "hash": str(list_hash)}
    return conn.execute(_BY_OWNER_AND_HASH, params).first()


async def list_for_owner(
    source: Database | AsyncConnection, user_id: int, list_hash: str
) -> Row[Any] | None:
    """The owner's list with this hash (id, user_id, hash, name, description, created_at),
    or None when there is none or it belongs to another account."""
    params = {"user_id": user_id, "hash": str(list_hash)}
    if isinstance(source, Database):
        return await source.first(_BY_OWNER_AND_HASH, params)
    return (await source.execute(_BY_OWNER_AND_HASH, params)).first()
