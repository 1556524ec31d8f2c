"""Campaigns.Get's listing: the owner's live campaigns filtered by status, keyword and tags,
ordered and paged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func, or_, select

from storage.campaigns.rows import CAMPAIGN_COLUMNS, CampaignView, view_of
from storage.engine import Database
from storage.models import Campaign, CampaignStatus

ORDER_FIELDS = {
    "campaignname": func.lower(Campaign.name),  # without regard to case, on every backend
    "campaignid": Campaign.id,
    "campaignstatus": Campaign.status,
    "senddate": func.coalesce(Campaign.sent_at, Campaign.send_at, Campaign.next_run_at),
    "created": Campaign.created_at,
    "createdate": Campaign.created_at,
}


@dataclass(frozen=True)
class CampaignQuery:
    statuses: Sequence[CampaignStatus] = ()  # () is every status
    keyword: str = ""
    order_field: str = "campaignid"  # a key of ORDER_FIELDS (unknown: campaign id)
    descending: bool = True
    start: int = 0
    count: int = 100
    tags: Sequence[str] = ()  # campaigns with any of these tags (case-insensitive, ASCII)


def _query_conditions(user_id: int, query: CampaignQuery) -> list[Any]:
    conditions: list[Any] = [Campaign.user_id == user_id, Campaign.deleted_at.is_(None)]
    if query.statuses:
        conditions.append(Campaign.status.in_(list(query.statuses)))
    if query.keyword:
        keyword = query.keyword.lower()
        conditions.append(func.lower(Campaign.name).contains(keyword, autoescape=True))
    if query.tags:
        # Tags are a JSON list of strings: a tag is found as its JSON text, quotes included.
        text = func.lower(cast(Campaign.tags, String))
        tags = [json.dumps(tag.lower()) for tag in query.tags]
        conditions.append(or_(*(text.contains(tag, autoescape=True) for tag in tags)))
    return conditions


async def list_campaigns(
    db: Database, user_id: int, query: CampaignQuery
) -> tuple[int, list[CampaignView]]:
    """(how many of the owner's campaigns match, the page asked for)."""
    conditions = _query_conditions(user_id, query)
    total = await db.scalar(select(func.count()).select_from(Campaign).where(*conditions))
    column = ORDER_FIELDS.get(query.order_field.lower(), Campaign.id)
    ordering = [column.desc(), Campaign.id.desc()] if query.descending else [column, Campaign.id]
    page = (
        select(*CAMPAIGN_COLUMNS)
        .where(*conditions)
        .order_by(*ordering)
        .offset(max(query.start, 0))
        .limit(max(query.count, 0))
    )
    return int(total or 0), [view_of(row) for row in await db.rows(page)]
