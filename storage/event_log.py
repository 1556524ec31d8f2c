"""Writing the event log: every event any part of Mailgate records goes through `record_events`,
inside the caller's transaction, so that whatever must follow an event (the webhook outbox)
is written in that same transaction or not at all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from storage.models import Event


def record_events(conn: Connection, events: Sequence[dict[str, Any]]) -> None:
    """Insert `events` (column dicts of `events`) with one bulk statement."""
    if events:
        conn.execute(Event.__table__.insert(), list(events))
