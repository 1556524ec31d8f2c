"""SMS sender names (003's "signatures" of PRO messages): an account's name is added, then
confirmed by the operator, and only a confirmed name may be an SMS's sender. Names match
exactly, case included: a phone shows the name as it was confirmed. Whether a name is a valid
sender name at all (length, characters) is for the callers to check (mta/sms/text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storage.engine import Database
from storage.models import SmsSender, User, utcnow


class NotFound(Exception):
    """No such user, or no such name of the user."""


class SenderStatus(StrEnum):
    UNKNOWN = "unknown"  # never added for this account
    UNCONFIRMED = "unconfirmed"  # added, awaiting confirmation
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class SenderName:
    user_id: int
    name: str
    confirmed_at: datetime | None

    @property
    def status(self) -> SenderStatus:
        return SenderStatus.UNCONFIRMED if self.confirmed_at is None else SenderStatus.CONFIRMED


def _named(user_id: int, name: str) -> Select[int, datetime | None]:
    return select(SmsSender.id, SmsSender.confirmed_at).where(
        SmsSender.user_id == user_id, SmsSender.name == name
    )


def _user_exists(conn: Connection, user_id: int) -> None:
    if conn.scalar(select(User.id).where(User.id == user_id)) is None:
        raise NotFound(f"no user {user_id}")


async def add_sender(db: Database, user_id: int, name: str) -> SenderName:
    """Add an unconfirmed name. A name the account has already is returned as it is, confirmed
    or not: adding twice (or two adds at once) leaves one row."""

    def work(conn: Connection) -> SenderName:
        _user_exists(conn, user_id)
        row = conn.execute(_named(user_id, name)).first()
        if row is None:
            conn.execute(SmsSender.__table__.insert().values(user_id=user_id, name=name))
        return SenderName(user_id, name, row.confirmed_at if row else None)

    for attempt in range(2):
        try:
            return await db.write(work)
        except IntegrityError:  # added at the same moment by another call: the next pass finds it
            if attempt:
                raise
    raise AssertionError("unreachable")


async def confirm_sender(db: Database, user_id: int, name: str) -> SenderName:
    """Confirm an added name (a confirmed one keeps its first confirmation time)."""

    def work(conn: Connection) -> SenderName:
        _user_exists(conn, user_id)
        row = conn.execute(_named(user_id, name)).first()
        if row is None:
            raise NotFound(f"user {user_id} has no SMS sender name {name!r}: add it first")
        confirmed_at = row.confirmed_at
        if confirmed_at is None:
            confirmed_at = utcnow()
            conn.execute(
                update(SmsSender).where(SmsSender.id == row.id).values(confirmed_at=confirmed_at)
            )
        return SenderName(user_id, name, confirmed_at)

    return await db.write(work)


_STATUS = select(SmsSender.confirmed_at).where(
    SmsSender.user_id == bindparam("user_id"), SmsSender.name == bindparam("name")
)


async def sender_status(db: Database, user_id: int, name: str) -> SenderStatus:
    """Whether `name` is the account's, and confirmed: what an SMS's `from` is checked against
    (unknown names and unconfirmed ones have their own error codes)."""
    row = await db.first(_STATUS, {"user_id": user_id, "name": name})
    if row is None:
        return SenderStatus.UNKNOWN
    return SenderName(user_id, name, row.confirmed_at).status
