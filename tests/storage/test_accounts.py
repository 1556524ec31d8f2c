"""Users, their API keys and the admin key: created once, stored as hashes only."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from storage import accounts
from storage.engine import Database
from storage.models import ApiKey, Base, KeyKind, User, UserStatus
from storage.tokens import token_hash


async def test_create_user_stores_only_the_key_hash(db: Database) -> None:
    user = await accounts.create_user(db, "  Ada@Example.COM ", "correct horse")
    row = await db.first(select(User.__table__).where(User.id == user.user_id))
    keys = await db.rows(select(ApiKey.__table__).where(ApiKey.user_id == user.user_id))
    assert row.email == "ada@example.com"
    assert row.status == UserStatus.ACTIVE
    assert row.password_hash.startswith("$argon2id$")
    [key] = keys
    assert key.kind == KeyKind.USER
    assert key.key_hash == token_hash(user.api_key) != user.api_key
    assert user.api_key not in (key.key_hint or "") and key.key_hint.endswith("…")


async def test_duplicate_email_is_refused_whatever_its_case(db: Database) -> None:
    first = await accounts.create_user(db, "ada@example.com")
    with pytest.raises(accounts.AlreadyExists, match=f"UserID {first.user_id}"):
        await accounts.create_user(db, "ADA@example.com")
    users = await db.rows(select(User.id))
    keys = await db.rows(select(ApiKey.id))
    assert (len(users), len(keys)) == (1, 1)


async def test_set_user_status(db: Database) -> None:
    user = await accounts.create_user(db, "ada@example.com")
    assert await accounts.set_user_status(db, user.user_id, UserStatus.DEACTIVATED)
    assert not await accounts.set_user_status(db, 999_999, UserStatus.ACTIVE)
    status = await db.scalar(select(User.status).where(User.id == user.user_id))
    assert status == UserStatus.DEACTIVATED


async def test_admin_key_replaces_the_previous_one(db: Database) -> None:
    assert not await accounts.has_admin_key(db)
    first = await accounts.create_admin_key(db)
    assert await accounts.has_admin_key(db)
    assert await accounts.is_admin_key(db, first)
    assert not await accounts.is_admin_key(db, first + "x")

    second = await accounts.create_admin_key(db)
    assert second != first
    assert await accounts.is_admin_key(db, second)
    assert not await accounts.is_admin_key(db, first)
    hashes = await db.rows(select(ApiKey.key_hash).where(ApiKey.kind == KeyKind.ADMIN))
    assert hashes == [(token_hash(second),)]


async def test_a_user_key_is_not_an_admin_key(db: Database) -> None:
    user = await accounts.create_user(db, "ada@example.com")
    await accounts.create_admin_key(db)
    assert not await accounts.is_admin_key(db, user.api_key)


async def all_stored_text(db: Database) -> str:
    """Every value of every row of every table, as one string."""
    tables = [(await db.rows(select(table))) for table in Base.metadata.sorted_tables]
    return "\n".join(repr(value) for rows in tables for row in rows for value in row)


async def test_no_plaintext_secret_is_stored_anywhere(db: Database) -> None:
    """A leaked database gives away neither the API keys nor the password."""
    user = await accounts.create_user(db, "ada@example.com", "correct horse battery")
    admin = await accounts.create_admin_key(db)
    stored = await all_stored_text(db)
    assert "ada@example.com" in stored  # the dump does see the rows
    assert "correct horse battery" not in stored
    for key, prefix in (
        (user.api_key, accounts.USER_KEY_PREFIX),
        (admin, accounts.ADMIN_KEY_PREFIX),
    ):
        assert key.startswith(prefix)
        assert key.removeprefix(prefix) not in stored  # nor the random part of a key
    assert token_hash(user.api_key) in stored and token_hash(admin) in stored


async def test_the_same_address_added_at_once(db: Database) -> None:
    results = await asyncio.gather(
        *(accounts.create_user(db, "race@example.com", "pw") for _ in range(4)),
        return_exceptions=True,
    )
    names = sorted(type(result).__name__ for result in results)
    assert names == ["AlreadyExists"] * 3 + ["NewUser"]
    assert len(await db.rows(select(User.id))) == 1


async def test_a_sub_account_is_created_with_its_profile_awaiting_activation(
    db: Database,
) -> None:
    parent = await accounts.create_user(db, "parent@example.com")
    user = await accounts.create_user(
        db,
        "Sub@Example.com",
        "Secret-pass1",
        status=UserStatus.UNVERIFIED,
        parent_user_id=parent.user_id,
        first_name="Ada",
        last_name="Lovelace",
        company="Engines",
        phone="+44 20 7946 0958",
    )
    row = await db.first(select(User.__table__).where(User.id == user.user_id))
    assert (row.email, row.status, row.parent_user_id) == (
        "sub@example.com",
        UserStatus.UNVERIFIED,
        parent.user_id,
    )
    assert (row.first_name, row.last_name, row.company, row.phone) == (
        "Ada",
        "Lovelace",
        "Engines",
        "+44 20 7946 0958",
    )
    assert row.account_hash == user.account_hash and row.rest_api_key == user.rest_api_key


async def test_activation_takes_the_accounts_hash_and_only_an_unverified_account(
    db: Database,
) -> None:
    user = await accounts.create_user(db, "new@example.com", status=UserStatus.UNVERIFIED)
    assert await accounts.email_taken(db, " NEW@example.com")
    assert not await accounts.email_taken(db, "other@example.com")
    assert not await accounts.activate_user(db, user.user_id, "0" * 10)
    assert await accounts.account_state(db, user.user_id) == (
        user.account_hash,
        UserStatus.UNVERIFIED,
    )
    assert await accounts.activate_user(db, user.user_id, user.account_hash)
    assert not await accounts.activate_user(db, user.user_id, user.account_hash)  # done
    assert await accounts.account_state(db, user.user_id) == (user.account_hash, UserStatus.ACTIVE)
    # A deactivated account is not made active again by its old link.
    await accounts.set_user_status(db, user.user_id, UserStatus.DEACTIVATED)
    assert not await accounts.activate_user(db, user.user_id, user.account_hash)
    assert await accounts.account_state(db, 999_999) is None


async def test_only_an_unverified_account_is_removed_with_its_key(db: Database) -> None:
    active = await accounts.create_user(db, "active@example.com")
    waiting = await accounts.create_user(db, "wait@example.com", status=UserStatus.UNVERIFIED)
    assert not await accounts.remove_unverified_user(db, active.user_id)
    assert await accounts.remove_unverified_user(db, waiting.user_id)
    users = [row[0] for row in await db.rows(select(User.email))]
    keys = [row[0] for row in await db.rows(select(ApiKey.user_id))]
    assert users == ["active@example.com"] and keys == [active.user_id]
