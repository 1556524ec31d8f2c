"""SMS sender names: added unconfirmed, confirmed by the operator, each account's own, matched
exactly; adding twice (or at once) keeps one row."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from storage import accounts
from storage.engine import Database
from storage.models import SmsSender
from storage.sms_senders import (
    NotFound,
    SenderStatus,
    add_sender,
    confirm_sender,
    sender_status,
)


async def user(db: Database, email: str) -> int:
    return (await accounts.create_user(db, email)).user_id


async def test_a_name_is_usable_once_confirmed(db: Database) -> None:
    alice = await user(db, "alice@sms.example")
    assert await sender_status(db, alice, "Shop") is SenderStatus.UNKNOWN
    added = await add_sender(db, alice, "Shop")
    assert (added.status, added.confirmed_at) == (SenderStatus.UNCONFIRMED, None)
    assert await sender_status(db, alice, "Shop") is SenderStatus.UNCONFIRMED
    confirmed = await confirm_sender(db, alice, "Shop")
    assert confirmed.status is SenderStatus.CONFIRMED and confirmed.confirmed_at is not None
    assert await sender_status(db, alice, "Shop") is SenderStatus.CONFIRMED
    # Confirming again keeps the first confirmation; adding again changes nothing.
    assert (await confirm_sender(db, alice, "Shop")).confirmed_at == confirmed.confirmed_at
    assert (await add_sender(db, alice, "Shop")).confirmed_at == confirmed.confirmed_at


async def test_names_are_the_accounts_own_and_match_exactly(db: Database) -> None:
    alice = await user(db, "alice@sms.example")
    bob = await user(db, "bob@sms.example")
    await add_sender(db, alice, "My Shop")
    await confirm_sender(db, alice, "My Shop")
    assert await sender_status(db, bob, "My Shop") is SenderStatus.UNKNOWN
    assert await sender_status(db, alice, "MY SHOP") is SenderStatus.UNKNOWN
    assert await sender_status(db, alice, "My Shop ") is SenderStatus.UNKNOWN
    with pytest.raises(NotFound):
        await confirm_sender(db, bob, "My Shop")  # not Bob's to confirm
    await add_sender(db, bob, "My Shop")  # Bob may announce the same name
    assert await sender_status(db, bob, "My Shop") is SenderStatus.UNCONFIRMED


async def test_unknown_users_and_names_are_not_found(db: Database) -> None:
    alice = await user(db, "alice@sms.example")
    with pytest.raises(NotFound, match="no user 9999"):
        await add_sender(db, 9999, "Shop")
    with pytest.raises(NotFound, match="no user 9999"):
        await confirm_sender(db, 9999, "Shop")
    with pytest.raises(NotFound, match="add it first"):
        await confirm_sender(db, alice, "Shop")


async def test_adds_at_once_keep_one_row(db: Database) -> None:
    alice = await user(db, "alice@sms.example")
    added = await asyncio.gather(*(add_sender(db, alice, "Shop") for _ in range(8)))
    assert {name.status for name in added} == {SenderStatus.UNCONFIRMED}
    assert await db.scalar(select(func.count()).select_from(SmsSender)) == 1
