"""A campaign's email (002's `Email.*`, and the content `RelEmailID` points a campaign at):
the values an email may hold, and its creation, owner-scoped lookup, change and deletion."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, insert, select, update

from storage.engine import Database
from storage.models import Campaign, CampaignEmail, utcnow

EMAIL_FIELDS = (
    "name",
    "subject",
    "from_name",
    "from_email",
    "reply_to_name",
    "reply_to_email",
    "html",
    "text",
    "content_url",
)
# The longest value of each bounded column (Text columns have none).
_EMAIL_LIMITS = {
    column.name: column.type.length
    for column in CampaignEmail.__table__.columns
    if isinstance(column.type, String) and column.type.length
}


@dataclass(frozen=True)
class EmailView:
    id: int
    user_id: int
    name: str
    subject: str
    from_name: str
    from_email: str
    reply_to_name: str
    reply_to_email: str
    html: str
    text: str
    content_url: str | None
    created_at: datetime
    updated_at: datetime | None


class ContentTooLong(ValueError):
    """A content value longer than its column (subject 998 characters, names 255, ...)."""


def checked_content(values: dict[str, str | None]) -> dict[str, str | None]:
    """Email values as stored; ContentTooLong for one longer than its column. An empty
    content_url is None (no URL)."""
    checked: dict[str, str | None] = {}
    for key, value in values.items():
        if key not in EMAIL_FIELDS:
            raise KeyError(key)
        text = None if value is None else str(value)
        limit = _EMAIL_LIMITS.get(key)
        if limit is not None and text is not None and len(text) > limit:
            raise ContentTooLong(f"{key} is longer than {limit} characters")
        if key == "content_url":
            text = (text or "").strip() or None
        checked[key] = text if key == "content_url" else (text or "")
    return checked


_EMAIL_COLUMNS = [getattr(CampaignEmail, f.name) for f in fields(EmailView)]
_EMAIL_OF_OWNER = select(*_EMAIL_COLUMNS).where(
    CampaignEmail.id == bindparam("id"), CampaignEmail.user_id == bindparam("user_id")
)


def email_in(conn: Connection, user_id: int, email_id: int) -> EmailView | None:
    row = conn.execute(_EMAIL_OF_OWNER, {"id": email_id, "user_id": user_id}).first()
    return EmailView(*row) if row else None


def insert_email(conn: Connection, user_id: int, values: dict[str, Any]) -> int:
    statement = insert(CampaignEmail).values(user_id=user_id, **values).returning(CampaignEmail.id)
    return int(conn.execute(statement).scalar_one())


async def create_email(db: Database, user_id: int, values: dict[str, str | None]) -> EmailView:
    """A new email of the account (Email.Create)."""
    checked = checked_content(values)

    def work(conn: Connection) -> EmailView:
        found = email_in(conn, user_id, insert_email(conn, user_id, checked))
        assert found is not None
        return found

    return await db.write(work)


async def get_email(db: Database, user_id: int, email_id: int) -> EmailView | None:
    """The owner's email, or None (none, or another account's)."""
    row = await db.first(_EMAIL_OF_OWNER, {"id": email_id, "user_id": user_id})
    return EmailView(*row) if row else None


async def update_email(
    db: Database, user_id: int, email_id: int, values: dict[str, str | None]
) -> EmailView | None:
    """Change the owner's email; None when the owner has no such email."""
    checked = checked_content(values)

    def work(conn: Connection) -> EmailView | None:
        if checked:
            conn.execute(
                update(CampaignEmail)
                .where(CampaignEmail.id == email_id, CampaignEmail.user_id == user_id)
                .values(**checked, updated_at=utcnow())
            )
        return email_in(conn, user_id, email_id)

    return await db.write(work)


class EmailInUse(Exception):
    """An email that campaigns (not deleted) still send."""


async def delete_email(db: Database, user_id: int, email_id: int) -> bool:
    """Delete the owner's email; False when there is none; EmailInUse while a campaign that is
    not deleted points at it."""

    def work(conn: Connection) -> bool:
        if email_in(conn, user_id, email_id) is None:
            return False
        users = select(Campaign.id).where(
            Campaign.email_id == email_id, Campaign.deleted_at.is_(None)
        )
        if conn.execute(users.limit(1)).first() is not None:
            raise EmailInUse(email_id)
        # Deleted campaigns keep their row: they lose the pointer (ON DELETE SET NULL, written
        # out for SQLite connections that run without foreign keys).
        conn.execute(update(Campaign).where(Campaign.email_id == email_id).values(email_id=None))
        conn.execute(CampaignEmail.__table__.delete().where(CampaignEmail.id == email_id))
        return True

    return await db.write(work)
