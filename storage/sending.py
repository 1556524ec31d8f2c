"""How much a user has sent: the figure per-user sending limits are checked against."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select

from storage.engine import Database
from storage.models import Message

_RECIPIENTS_SINCE = select(func.coalesce(func.sum(Message.recipient_count), 0)).where(
    Message.user_id == bindparam("user_id"), Message.created_at >= bindparam("since")
)


async def recipients_sent_since(db: Database, user_id: int, since: datetime) -> int:
    """Recipients of the user's messages queued since `since`, by every node (covering index)."""
    return int(await db.scalar(_RECIPIENTS_SINCE, {"user_id": user_id, "since": since}) or 0)
