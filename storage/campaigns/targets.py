"""A campaign's audience as stored: lists and segments named by id, ListID:SegmentID or hash,
resolved against the owner's, and rules bundles checked as a run would resolve them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from storage.campaigns.audience import checked_rules_bundle, run_plan
from storage.engine import Database
from storage.models import Segment, SubscriberList
from storage.row_ids import row_id


class UnknownTarget(ValueError):
    """A list or segment that is not the owner's (or not a list id, hash or ListID:SegmentID)."""

    def __init__(self, item: str) -> None:
        super().__init__(f"no list or segment {item!r} of this account")
        self.item = item


def _target(conn: Connection, user_id: int, item: str) -> dict[str, Any]:
    """One RecipientListsAndSegments item: a list id ("12"), a whole list ("12:0"), a segment
    of a list ("12:5"), a list hash, or a segment hash."""
    list_part, _, segment_part = item.partition(":")
    if list_part.isdigit() and (segment_part == "" or segment_part.isdigit()):
        list_number, segment_number = row_id(list_part), row_id(segment_part or "0")
        if list_number is None or segment_number is None:
            raise UnknownTarget(item)  # no row has such an id
        list_id = conn.execute(
            select(SubscriberList.id).where(
                SubscriberList.id == list_number, SubscriberList.user_id == user_id
            )
        ).scalar()
        segment_id = segment_number or None
        if list_id is not None and segment_id is not None:
            segment_id = conn.execute(
                select(Segment.id).where(
                    Segment.id == segment_id,
                    Segment.list_id == list_id,
                    Segment.user_id == user_id,
                )
            ).scalar()
            list_id = list_id if segment_id is not None else None
    elif not segment_part:
        list_id = conn.execute(
            select(SubscriberList.id).where(
                SubscriberList.hash == item, SubscriberList.user_id == user_id
            )
        ).scalar()
        segment_id = None
        if list_id is None:
            found = conn.execute(
                select(Segment.list_id, Segment.id).where(
                    Segment.hash == item, Segment.user_id == user_id
                )
            ).first()
            list_id, segment_id = found if found else (None, None)
    else:
        list_id = None
    if list_id is None:
        raise UnknownTarget(item)
    return {"list_id": int(list_id), "segment_id": segment_id}


def targets_in(conn: Connection, user_id: int, items: Sequence[str]) -> list[dict[str, Any]]:
    """Items as audience entries {"list_id", "segment_id"}, each once; UnknownTarget for one that
    is not the owner's."""
    targets = [_target(conn, user_id, item) for item in items]
    unique = {(t["list_id"], t["segment_id"]): t for t in targets}
    return list(unique.values())


async def resolve_targets(db: Database, user_id: int, items: Sequence[str]) -> list[dict[str, Any]]:
    """targets_in, for callers outside a transaction (REST's `list` and `group` hashes): its
    few small reads in one snapshot, off the event loop."""
    return await db.read(lambda conn: targets_in(conn, user_id, items))


async def checked_rules(db: Database, user_id: int, value: Any) -> dict[str, Any]:
    """A RulesJsonBundle (a JSON text or an object) as stored, checked in form and against the
    account's lists and their fields as a run would resolve it; AudienceError otherwise."""
    bundle = checked_rules_bundle(value)
    await run_plan(db, user_id, {"rules": bundle})
    return bundle
