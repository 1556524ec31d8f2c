"""Segments: saved audiences inside one subscriber list (`Segment.*` on /api.php, REST's
"groups"), each one RulesJson criteria object ({"operator", "rules"}) evaluated in SQL when a
campaign run starts (storage.campaigns.audience).

Criteria are checked when saved: their form (campaign_audience.checked_criteria) and their
fields, which must be the list's (by resolving them as a run would). Every lookup is scoped to
the owner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from storage.campaigns.audience import checked_criteria, run_plan
from storage.campaigns.rules import ALLOWED_FROM, Transition
from storage.engine import Database
from storage.models import Campaign, Segment, SubscriberList
from storage.row_ids import row_id
from storage.subscriber_lists import new_hash, retrying_hash_clash

NAME_LIMIT = 255
# Campaigns that may still send: a segment they target cannot be deleted.
UNFINISHED = ALLOWED_FROM[Transition.CANCEL]


@dataclass(frozen=True)
class SegmentView:
    id: int
    user_id: int
    list_id: int
    hash: str
    name: str
    rules: dict[str, Any]
    created_at: datetime


class SegmentInUse(Exception):
    """A segment that a campaign which may still send targets or excludes."""


_COLUMNS = [getattr(Segment, f.name) for f in fields(SegmentView)]
_OF_OWNER = select(*_COLUMNS).where(
    Segment.id == bindparam("id"), Segment.user_id == bindparam("user_id")
)


async def owned_list_id(db: Database, user_id: int, list_key: Any) -> int | None:
    """The id of the owner's list named by id or hash, or None (a number no row can have
    names none)."""
    key = str(list_key).strip()
    number = row_id(key)
    if key.isdigit() and number is None:
        return None
    column = SubscriberList.id if number is not None else SubscriberList.hash
    value: Any = number if number is not None else key
    statement = select(SubscriberList.id).where(column == value, SubscriberList.user_id == user_id)
    found = await db.scalar(statement)
    return int(found) if found is not None else None


async def checked_segment_criteria(
    db: Database, user_id: int, list_id: int, operator: Any, rules: Any
) -> dict[str, Any]:
    """Criteria as stored, from an operator ("and"/"or", None: the criteria's own or "and")
    and rules (a criteria object, or a list of rules; a JSON text of either). Raises
    campaign_audience.AudienceError for malformed criteria or fields not on the list."""
    criteria = checked_criteria(_criteria_of(rules, operator))
    bundle = {"operator": "or", "criteria": [{"list_id": list_id, **criteria}]}
    await run_plan(db, user_id, {"rules": bundle})  # the fields are the list's
    return criteria


def _criteria_of(rules: Any, operator: Any) -> Any:
    value = rules
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value) if str(value).strip() else []
        except ValueError:
            return value  # checked_criteria says what is wrong with it
    if isinstance(value, list):
        value = {"rules": value}
    if isinstance(value, dict) and operator is not None:
        value = {**value, "operator": operator}
    return value


async def create_segment(
    db: Database, user_id: int, list_id: int, name: str, criteria: dict[str, Any]
) -> SegmentView:
    """A new segment of the owner's list (the caller checked both the list and the criteria)."""
    return await retrying_hash_clash(
        db, lambda conn: _insert(conn, user_id, list_id, name, criteria)
    )


def _insert(
    conn: Connection, user_id: int, list_id: int, name: str, criteria: dict[str, Any]
) -> SegmentView:
    values = {
        "user_id": user_id,
        "list_id": list_id,
        "hash": new_hash(),
        "name": name,
        "rules": criteria,
    }
    segment_id = conn.execute(insert(Segment).values(**values).returning(Segment.id)).scalar_one()
    row = conn.execute(_OF_OWNER, {"id": segment_id, "user_id": user_id}).one()
    return SegmentView(*row)


async def get_segment(db: Database, user_id: int, segment_id: int) -> SegmentView | None:
    row = await db.first(_OF_OWNER, {"id": segment_id, "user_id": user_id})
    return SegmentView(*row) if row else None


async def update_segment(
    db: Database, user_id: int, segment_id: int, name: str | None, criteria: dict[str, Any] | None
) -> SegmentView | None:
    """Rename the owner's segment and/or replace its criteria; None when there is none."""
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name
    if criteria is not None:
        values["rules"] = criteria

    def work(conn: Connection) -> SegmentView | None:
        if values:
            conn.execute(
                update(Segment)
                .where(Segment.id == segment_id, Segment.user_id == user_id)
                .values(**values)
            )
        row = conn.execute(_OF_OWNER, {"id": segment_id, "user_id": user_id}).first()
        return SegmentView(*row) if row else None

    return await db.write(work)


def _targets_segment(audience: Any, segment_id: int) -> bool:
    if not isinstance(audience, dict):
        return False
    entries = [*(audience.get("lists") or []), *(audience.get("exclude") or [])]
    return any(isinstance(e, dict) and e.get("segment_id") == segment_id for e in entries)


async def delete_segment(db: Database, user_id: int, segment_id: int) -> bool:
    """Delete the owner's segment; False when there is none; SegmentInUse while a campaign
    that may still send (Draft to Paused, not deleted) targets or excludes it."""

    def work(conn: Connection) -> bool:
        if conn.execute(_OF_OWNER, {"id": segment_id, "user_id": user_id}).first() is None:
            return False
        audiences = conn.execute(
            select(Campaign.audience).where(
                Campaign.user_id == user_id,
                Campaign.deleted_at.is_(None),
                Campaign.status.in_(UNFINISHED),
            )
        ).scalars()
        if any(_targets_segment(audience, segment_id) for audience in audiences):
            raise SegmentInUse(segment_id)
        conn.execute(delete(Segment).where(Segment.id == segment_id))
        return True

    return await db.write(work)
