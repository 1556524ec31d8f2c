"""Campaign rows: what a campaign is (CampaignView), finding the owner's campaign by id or hash
(a deleted campaign is found by nobody), creating one with its own email, and copying one."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, select

from storage.campaigns.emails import EMAIL_FIELDS, email_in, insert_email
from storage.campaigns.schedule import ScheduleError, zone_of
from storage.engine import Database
from storage.models import Campaign, CampaignStatus, ScheduleType
from storage.subscriber_lists import new_hash, retrying_hash_clash

NAME_LIMIT = 255


@dataclass(frozen=True)
class CampaignView:
    id: int
    user_id: int
    hash: str
    name: str
    status: CampaignStatus
    email_id: int | None
    audience: dict[str, Any]
    schedule_type: ScheduleType
    send_at: datetime | None
    time_zone: str
    recurrence: dict[str, Any]
    next_run_at: datetime | None
    instances: int
    tags: list[str]
    google_analytics_domains: list[str]
    publish_on_rss: bool
    s2s_enabled: bool
    approval_explanation: str
    resign_link: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime | None
    sent_at: datetime | None
    finished_at: datetime | None

    def local_send(self) -> tuple[str, str]:
        """SendDate and SendTime of a Future schedule, in its time zone ('', '' without)."""
        if self.send_at is None:
            return "", ""
        try:
            local = self.send_at.astimezone(zone_of(self.time_zone))
        except ScheduleError:
            local = self.send_at
        return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


CAMPAIGN_COLUMNS = [getattr(Campaign, f.name) for f in fields(CampaignView)]
_LIVE_OF_OWNER = and_(Campaign.user_id == bindparam("user_id"), Campaign.deleted_at.is_(None))
_BY_ID = select(*CAMPAIGN_COLUMNS).where(_LIVE_OF_OWNER, Campaign.id == bindparam("id"))
_BY_HASH = select(*CAMPAIGN_COLUMNS).where(_LIVE_OF_OWNER, Campaign.hash == bindparam("hash"))


def view_of(row: Any) -> CampaignView:
    return CampaignView(*row)


def campaign_in(
    conn: Connection, user_id: int, campaign_id: int, locked: bool = False
) -> CampaignView | None:
    """Inside a transaction; `locked` takes the row (FOR UPDATE on PostgreSQL; SQLite's one
    writer at a time needs none) so that the scheduler cannot start it meanwhile."""
    statement = _BY_ID.with_for_update() if locked else _BY_ID
    row = conn.execute(statement, {"user_id": user_id, "id": campaign_id}).first()
    return view_of(row) if row else None


async def get_campaign(db: Database, user_id: int, campaign_id: int) -> CampaignView | None:
    """The owner's campaign with this id; None when there is none, it is another account's,
    or it is deleted."""
    row = await db.first(_BY_ID, {"user_id": user_id, "id": campaign_id})
    return view_of(row) if row else None


async def get_campaign_by_hash(
    db: Database, user_id: int, campaign_hash: str
) -> CampaignView | None:
    """The owner's campaign with this hash (/rest's id_hash), as get_campaign."""
    row = await db.first(_BY_HASH, {"user_id": user_id, "hash": str(campaign_hash)})
    return view_of(row) if row else None


def empty_audience() -> dict[str, Any]:
    return {"lists": [], "exclude": [], "rules": None}


def _insert_campaign(conn: Connection, values: dict[str, Any]) -> int:
    statement = insert(Campaign).values(**values).returning(Campaign.id)
    return int(conn.execute(statement).scalar_one())


class NameRequired(ValueError):
    """A campaign without a name (or with one longer than 255 characters)."""


async def create_campaign(db: Database, user_id: int, name: str) -> CampaignView:
    """A new Draft campaign of the account, with its own (empty) email."""
    cleaned = str(name or "").strip()
    if not cleaned or len(cleaned) > NAME_LIMIT:
        raise NameRequired(name)

    def work(conn: Connection) -> CampaignView:
        campaign_hash = new_hash()
        email_id = insert_email(conn, user_id, {"name": cleaned})
        values = {
            "user_id": user_id,
            "hash": campaign_hash,
            "name": cleaned,
            "email_id": email_id,
            "audience": empty_audience(),
        }
        found = campaign_in(conn, user_id, _insert_campaign(conn, values))
        assert found is not None
        return found

    return await retrying_hash_clash(db, work)


_COPIED = (
    "name",
    "audience",
    "time_zone",
    "tags",
    "google_analytics_domains",
    "publish_on_rss",
    "s2s_enabled",
    "approval_explanation",
    "resign_link",
)


async def copy_campaign(db: Database, user_id: int, campaign_id: int) -> CampaignView | None:
    """A new Draft with the source's settings (same name) and a copy of its email, and no
    schedule (Not Scheduled, no send time, no recurrence, no runs); None when the owner has no
    such campaign."""

    def work(conn: Connection) -> CampaignView | None:
        campaign_hash = new_hash()
        source = conn.execute(
            select(Campaign.email_id, *(getattr(Campaign, key) for key in _COPIED)).where(
                Campaign.id == campaign_id,
                Campaign.user_id == user_id,
                Campaign.deleted_at.is_(None),
            )
        ).first()
        if source is None:
            return None
        email = email_in(conn, user_id, source.email_id) if source.email_id else None
        content = {key: getattr(email, key) for key in EMAIL_FIELDS} if email else {}
        values = {key: getattr(source, key) for key in _COPIED}
        values |= {
            "user_id": user_id,
            "hash": campaign_hash,
            "email_id": insert_email(conn, user_id, content),
        }
        return campaign_in(conn, user_id, _insert_campaign(conn, values))

    copied = await retrying_hash_clash(db, work)
    return copied
