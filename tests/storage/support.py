"""Helpers for the storage tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.models import SubscriberList
from storage.queue import NewMessage, insert_messages


async def queue_message(db: Database, recipients: Iterable[str], **fields: Any) -> uuid.UUID:
    """Queue one message through the storage operation the SMTP path uses; returns its id."""
    message = NewMessage(
        id=uuid.uuid4(),
        mail_from="app@storage.test",
        recipients=list(recipients),
        raw=b"Subject: x\r\n\r\nbody\r\n",
        source="test",
        **fields,
    )
    await db.write(lambda conn: insert_messages(conn, [message]))
    return message.id


def insert_list(conn: Connection, user_id: int, hash_: str) -> int:
    """A subscriber list of `user_id` named and hashed `hash_`, inside the caller's transaction."""
    statement = (
        insert(SubscriberList)
        .values(user_id=user_id, hash=hash_, name=hash_)
        .returning(SubscriberList.id)
    )
    return int(conn.execute(statement).scalar_one())
