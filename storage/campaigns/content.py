"""What a campaign's message is built from: the campaign and its email (campaign_emails), read
in one query, and a sample of its audience's merge values for a test send."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, func, select

from storage.engine import Database
from storage.models import (
    Campaign,
    CampaignEmail,
    Subscriber,
    SubscriberList,
    SubscriberState,
)


@dataclass(frozen=True)
class CampaignContent:
    campaign_id: int
    user_id: int
    name: str
    tags: list[str]
    google_analytics_domains: list[str]
    audience: dict[str, Any]
    email_id: int | None  # None: the campaign has no email yet
    subject: str = ""
    from_name: str = ""
    from_email: str = ""
    reply_to_name: str = ""
    reply_to_email: str = ""
    html: str = ""
    text: str = ""
    content_url: str | None = None


_CONTENT = (
    select(
        Campaign.id,
        Campaign.user_id,
        Campaign.name,
        Campaign.tags,
        Campaign.google_analytics_domains,
        Campaign.audience,
        CampaignEmail.id,
        CampaignEmail.subject,
        CampaignEmail.from_name,
        CampaignEmail.from_email,
        CampaignEmail.reply_to_name,
        CampaignEmail.reply_to_email,
        CampaignEmail.html,
        CampaignEmail.text,
        CampaignEmail.content_url,
    )
    # The email must be the campaign owner's (RelEmailID names one of the user's emails).
    .outerjoin(
        CampaignEmail,
        (CampaignEmail.id == Campaign.email_id) & (CampaignEmail.user_id == Campaign.user_id),
    )
    .where(Campaign.id == bindparam("id"), Campaign.deleted_at.is_(None))
)


async def campaign_content(db: Database, campaign_id: int) -> CampaignContent | None:
    """The campaign (not deleted) and its email's fields; None when there is no campaign."""
    row = await db.first(_CONTENT, {"id": campaign_id})
    if row is None:
        return None
    (cid, user_id, name, tags, domains, audience, email_id, *email) = row
    content = CampaignContent(
        cid, user_id, name, list(tags or []), list(domains or []), dict(audience or {}), email_id
    )
    if email_id is None:
        return content
    keys = ("subject", "from_name", "from_email", "reply_to_name", "reply_to_email", "html",
            "text", "content_url")  # fmt: skip
    return replace(content, **dict(zip(keys, email, strict=True)))


_SAMPLE = (
    select(Subscriber.email, Subscriber.custom_fields)
    .join(SubscriberList, SubscriberList.id == Subscriber.list_id)
    .where(
        Subscriber.list_id == bindparam("list_id"),
        SubscriberList.user_id == bindparam("user_id"),
        Subscriber.state == SubscriberState.ACTIVE,
    )
    .order_by(func.random())
    .limit(1)
)


def merge_values(email: str, custom_fields: dict[str, Any] | None) -> dict[str, str]:
    """A subscriber's merge values: its custom fields by tag (lower case) as text, and
    `email`."""
    values = {
        str(tag).lower(): "" if value is None else str(value)
        for tag, value in (custom_fields or {}).items()
    }
    return {**values, "email": email}


async def sample_subscriber(db: Database, user_id: int, list_id: int) -> dict[str, str] | None:
    """The merge values of a random active subscriber of the user's list."""
    row = await db.first(_SAMPLE, {"user_id": user_id, "list_id": list_id})
    return None if row is None else merge_values(row[0], row[1])
