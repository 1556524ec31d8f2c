"""The durable queue's write side, with group commit.

A message is acknowledged only after its transaction commits. Committing each message alone
costs one fsync per message; instead, messages that arrive while a commit is in flight wait and
are written together in the next transaction (one fsync for the group), with Core bulk inserts.
Nothing is delayed on purpose: a lone message commits at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.event_log import record_events
from storage.event_names import EventType
from storage.event_payloads import QueuedData
from storage.models import Delivery, DeliveryStatus, Message, MessageTag, utcnow

log = logging.getLogger("mailgate.queue")

MAX_GROUP = 512


@dataclass
class NewMessage:
    """A message ready to queue: its final bytes and its envelope."""

    id: uuid.UUID
    mail_from: str
    recipients: list[str]
    raw: bytes
    source: str
    user_id: int | None = None
    sender_domain_id: int | None = None
    header_from: str | None = None
    subject: str | None = None
    message_id_header: str | None = None
    client_ip: str | None = None
    tags: list[str] = field(default_factory=list)
    send_at: datetime | None = None
    campaign_id: int | None = None
    queue_deliveries: bool = True


def _rows(batch: list[NewMessage]) -> tuple[list[dict[str, Any]], ...]:
    now = utcnow()
    messages, deliveries, events = [], [], []
    for msg in batch:
        messages.append(
            {
                "id": msg.id,
                "user_id": msg.user_id,
                "sender_domain_id": msg.sender_domain_id,
                "mail_from": msg.mail_from,
                "header_from": msg.header_from,
                "subject": msg.subject,
                "message_id_header": msg.message_id_header,
                "raw": msg.raw,
                "size": len(msg.raw),
                "recipient_count": len(set(msg.recipients)),
                "tags": msg.tags,
                "source": msg.source,
                "client_ip": msg.client_ip,
                "send_at": msg.send_at,
                "campaign_id": msg.campaign_id,
                "created_at": now,
            }
        )
        for rcpt in dict.fromkeys(msg.recipients):  # RCPT TO twice means the address once
            if msg.queue_deliveries:
                deliveries.append(
                    {
                        "message_id": msg.id,
                        "recipient": rcpt,
                        "recipient_domain": rcpt.rpartition("@")[2].lower(),
                        "status": DeliveryStatus.QUEUED,
                        "attempts": 0,
                        "next_attempt_at": msg.send_at or now,
                        "created_at": now,
                    }
                )
            events.append(
                {
                    "type": EventType.QUEUED if msg.queue_deliveries else EventType.RECEIVED,
                    "message_id": msg.id,
                    "recipient": rcpt,
                    "user_id": msg.user_id,
                    "sender_domain_id": msg.sender_domain_id,
                    "created_at": now,
                    "data": QueuedData(source=msg.source, size=len(msg.raw)),
                }
            )
    return messages, deliveries, events


def insert_messages(conn: Connection, batch: list[NewMessage]) -> None:
    """Insert messages, their deliveries and their events with one bulk statement per table."""
    messages, deliveries, events = _rows(batch)
    conn.execute(Message.__table__.insert(), messages)
    tags = [
        {"message_id": m.id, "tag": tag}
        for m in batch
        for tag in dict.fromkeys(tag[:128] for tag in m.tags)
    ]
    if tags:
        conn.execute(MessageTag.__table__.insert(), tags)
    if deliveries:
        conn.execute(Delivery.__table__.insert(), deliveries)
    record_events(conn, events)


class QueueWriter:
    """Queues messages durably; `enqueue` returns once the message's group has committed."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[NewMessage, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="queue-writer")

    async def enqueue(self, message: NewMessage) -> None:
        if self._closing or self._task is None:
            raise RuntimeError("queue writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        self._wakeup.set()
        await future

    async def close(self) -> None:
        """Commit what is pending, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                await self._commit(group)
            if self._closing:
                return

    async def _commit(self, group: list[tuple[NewMessage, asyncio.Future[None]]]) -> None:
        try:
            batch = [message for message, _ in group]
            await self._db.write(lambda conn: insert_messages(conn, batch))
        except Exception:
            if len(group) == 1:
                log.exception("queue commit failed message_id=%s", group[0][0].id)
                _settle(group, failed=True)
                return
            # One bad message must not fail the others: retry each alone.
            log.warning("group commit of %d failed; committing one by one", len(group))
            for item in group:
                await self._commit([item])
            return
        _settle(group, failed=False)


def _settle(group: list[tuple[NewMessage, asyncio.Future[None]]], failed: bool) -> None:
    for _, future in group:
        if future.done():
            continue
        if failed:
            future.set_exception(QueueWriteError("the message could not be stored"))
        else:
            future.set_result(None)


class QueueWriteError(Exception):
    """The message was not stored; the client must be told to retry (4xx)."""
