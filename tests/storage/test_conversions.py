"""Recording conversions on every backend: the user and campaign checks, and the row as stored
(the largest value accepted is kept exactly, SQLite included)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from storage import accounts
from storage.conversions import VALUE_LIMIT, ConversionResult, NewConversion, record_conversion
from storage.engine import Database
from storage.models import Conversion, UserStatus
from tests.storage.support import queue_message


async def stored(db: Database) -> list[tuple[object, ...]]:
    query = select(
        Conversion.user_id,
        Conversion.campaign_id,
        Conversion.autoresponder_id,
        Conversion.subscriber_id,
        Conversion.list_id,
        Conversion.channel,
        Conversion.value,
        Conversion.unit,
    ).order_by(Conversion.id)
    return [tuple(row) for row in await db.rows(query)]


async def test_a_conversion_in_a_users_campaign_is_recorded(db: Database) -> None:
    user = (await accounts.create_user(db, "shop@conv.example")).user_id
    await queue_message(db, ["reader@example.org"], user_id=user, campaign_id=40)
    largest = VALUE_LIMIT - Decimal("0.0001")
    for value in (Decimal("49.9900"), largest, None):
        conversion = NewConversion(user, 40, None, 7, 3, "purchase", value, "USD")
        assert await record_conversion(db, conversion) is ConversionResult.RECORDED
    assert await stored(db) == [
        (user, 40, None, 7, 3, "purchase", Decimal("49.99"), "USD"),
        (user, 40, None, 7, 3, "purchase", largest, "USD"),
        (user, 40, None, 7, 3, "purchase", None, "USD"),
    ]


async def test_users_and_campaigns_are_checked(db: Database) -> None:
    user = (await accounts.create_user(db, "shop@conv.example")).user_id
    other = (await accounts.create_user(db, "other@conv.example")).user_id
    await queue_message(db, ["reader@example.org"], user_id=user, campaign_id=40)

    async def outcome(
        user_id: int, campaign: int | None, autoresponder: int | None
    ) -> ConversionResult:
        return await record_conversion(db, NewConversion(user_id, campaign, autoresponder, 1, 1))

    assert await outcome(user + other + 1, 40, None) is ConversionResult.USER_INVALID
    # not the other's campaign:
    assert await outcome(other, 40, None) is ConversionResult.NO_VALID_SOURCE
    assert await outcome(user, 41, None) is ConversionResult.NO_VALID_SOURCE
    assert await outcome(user, None, 5) is ConversionResult.NO_VALID_SOURCE  # no autoresponders yet
    assert await outcome(user, 40, 5) is ConversionResult.RECORDED
    await accounts.set_user_status(db, user, UserStatus.DEACTIVATED)
    assert await outcome(user, 40, None) is ConversionResult.USER_INVALID
    assert [row[:3] for row in await stored(db)] == [(user, 40, 5)]
