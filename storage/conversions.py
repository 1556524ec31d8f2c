"""Conversions posted back by customers' servers (`internal.s2spostback.register`): checked
against the user and the campaign the OCRID names, then recorded, in one transaction.

The `conversions` row is the whole record; no event is written. Events describe one message to
one recipient of a sender domain, and every reader of them (event lists, statistics, webhooks)
selects by sender domain: a conversion has neither, so as an event it would be seen by nobody.
Campaign and autoresponder reports read this table."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from decimal import Decimal

from sqlalchemy import Column, String, select
from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.models import Conversion, Message, User, UserStatus

# What the columns hold exactly on every backend. `value` is Numeric(18, 4), but SQLite keeps
# it as a double, exact to 15 significant digits: so 4 decimal places and 11 integer digits.


def _length(column: Column[str]) -> int:
    """The declared length of a String column (the models give each one)."""
    assert isinstance(column.type, String) and column.type.length is not None
    return column.type.length


CHANNEL_LENGTH: int = _length(Conversion.__table__.c.channel)
UNIT_LENGTH: int = _length(Conversion.__table__.c.unit)
VALUE_PLACES = Decimal("0.0001")
VALUE_LIMIT = Decimal(10) ** 11  # values must be smaller than this in magnitude


class ConversionResult(enum.Enum):
    """What became of a posted-back conversion."""

    RECORDED = "recorded"
    USER_INVALID = "user invalid"  # no such user, or not active
    NO_VALID_SOURCE = "no valid source"  # neither the campaign nor the autoresponder is valid


@dataclass(frozen=True)
class NewConversion:
    user_id: int
    campaign_id: int | None
    autoresponder_id: int | None
    subscriber_id: int | None
    list_id: int | None
    channel: str = ""
    value: Decimal | None = None  # within VALUE_PLACES and VALUE_LIMIT
    unit: str = ""


async def record_conversion(db: Database, conversion: NewConversion) -> ConversionResult:
    """Record `conversion` if its user is active and its campaign or autoresponder is valid
    (for now by the interim rules below). The ids are stored as the OCRID named them."""
    return await db.write(lambda conn: _record(conn, conversion))


def _record(conn: Connection, conversion: NewConversion) -> ConversionResult:
    status = conn.scalar(select(User.status).where(User.id == conversion.user_id))
    if status != UserStatus.ACTIVE:
        return ConversionResult.USER_INVALID
    if not (
        campaign_is_valid(conn, conversion.user_id, conversion.campaign_id)
        or autoresponder_is_valid(conn, conversion.user_id, conversion.autoresponder_id)
    ):
        return ConversionResult.NO_VALID_SOURCE
    conn.execute(Conversion.__table__.insert().values(**asdict(conversion)))  # same names
    return ConversionResult.RECORDED


def campaign_is_valid(conn: Connection, user_id: int, campaign_id: int | None) -> bool:
    """INTERIM, until campaigns have a table of their own (the campaigns issue replaces this):
    a campaign is valid when at least one message of this user carries its id
    (`messages.campaign_id`, indexed)."""
    if campaign_id is None:
        return False
    found = conn.scalar(
        select(Message.id)
        .where(Message.campaign_id == campaign_id, Message.user_id == user_id)
        .limit(1)
    )
    return found is not None


def autoresponder_is_valid(conn: Connection, user_id: int, autoresponder_id: int | None) -> bool:
    """INTERIM: autoresponders have no model yet, so no autoresponder id is valid, and an OCRID
    that names an autoresponder alone is refused (code 3). Replace this when they are stored."""
    return False
