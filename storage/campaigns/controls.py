"""Pausing, resuming, canceling and deleting the owner's campaigns: each asks
storage.campaigns.runs for a change guarded by status, and says what came of it."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from storage.campaigns import rules as rules
from storage.campaigns.rows import CampaignView, get_campaign
from storage.campaigns.runs import cancel_campaign, pause_campaign, resume_campaign
from storage.engine import Database
from storage.models import Campaign, CampaignStatus, utcnow


class StatusChange(enum.Enum):
    """What came of asking to pause, resume or cancel a campaign."""

    DONE = "done"
    NOT_FOUND = "not found"  # none, another account's, or deleted
    WRONG_STATE = "wrong state"  # not Sending (pause), not Paused (resume), over (cancel)


async def _guarded(
    db: Database, user_id: int, campaign_id: int, change: Callable[[Database, int], Awaitable[bool]]
) -> StatusChange:
    """The owner's campaign changed by a status-guarded operation of storage.campaigns.runs."""
    if await get_campaign(db, user_id, campaign_id) is None:
        return StatusChange.NOT_FOUND
    return StatusChange.DONE if await change(db, campaign_id) else StatusChange.WRONG_STATE


async def pause(db: Database, user_id: int, campaign_id: int) -> StatusChange:
    """Pause the owner's Sending campaign (queueing stops, queued recipients are held)."""
    return await _guarded(db, user_id, campaign_id, pause_campaign)


async def resume(db: Database, user_id: int, campaign_id: int) -> StatusChange:
    """Resume the owner's Paused campaign where it stopped."""
    return await _guarded(db, user_id, campaign_id, resume_campaign)


async def _cancel(db: Database, found: CampaignView) -> StatusChange:
    if found.status is CampaignStatus.CANCELED:
        return StatusChange.DONE
    return StatusChange.DONE if await cancel_campaign(db, found.id) else StatusChange.WRONG_STATE


async def cancel(db: Database, user_id: int, campaign_id: int) -> StatusChange:
    """Cancel the owner's campaign: one not started yet is Canceled; a Sending or Paused one
    stops queueing and drops what is not sent; Canceled again is done already; Sent and Failed
    are over (WRONG_STATE)."""
    found = await get_campaign(db, user_id, campaign_id)
    if found is None:
        return StatusChange.NOT_FOUND
    return await _cancel(db, found)


async def unknown_campaigns(db: Database, user_id: int, campaign_ids: Sequence[int]) -> list[int]:
    """The ids among `campaign_ids` that name no live campaign of the owner (another account's,
    none, or deleted), so that a request naming one can be refused before anything changes."""
    wanted = list(dict.fromkeys(campaign_ids))
    statement = select(Campaign.id).where(
        Campaign.user_id == user_id, Campaign.deleted_at.is_(None), Campaign.id.in_(wanted)
    )
    found = {int(found_id) for (found_id,) in await db.rows(statement)}
    return [campaign_id for campaign_id in wanted if campaign_id not in found]


async def delete_campaigns(db: Database, user_id: int, campaign_ids: Sequence[int]) -> list[int]:
    """Soft-delete the owner's campaigns among `campaign_ids` (others' and unknown ids are left
    alone); a Sending or Paused one is canceled first. Returns the ids deleted."""
    deleted: list[int] = []
    for campaign_id in dict.fromkeys(campaign_ids):
        found = await get_campaign(db, user_id, campaign_id)
        if found is None:
            continue
        if found.status in rules.RUNNING:
            await _cancel(db, found)
        if await db.write(_soft_delete(campaign_id)):
            deleted.append(campaign_id)
    return deleted


def _soft_delete(campaign_id: int) -> Callable[[Connection], int]:
    """The write that marks a live campaign deleted; it returns 0 when it already was."""
    statement = (
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.deleted_at.is_(None))
        .values(deleted_at=utcnow(), next_run_at=None)
    )
    return lambda conn: conn.execute(statement).rowcount
