"""SMTP credentials: a generated password shown once, an argon2 hash stored, and checks that
do not tell an unknown username from a wrong password."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage import accounts, credentials, domains
from storage.engine import Database
from storage.models import DomainStatus, SmtpCredential, UserStatus


async def new_domain(db: Database) -> int:
    user_id = (await accounts.create_user(db, "owner@example.com")).user_id
    return (await domains.add_domain(db, user_id, "example.com", "bounces")).id


async def test_add_and_authenticate(db: Database) -> None:
    domain_id = await new_domain(db)
    new = await credentials.add_credential(db, domain_id)
    row = await db.first(
        select(SmtpCredential.__table__).where(SmtpCredential.id == new.credential_id)
    )
    assert row.password_hash.startswith("$argon2id$")
    assert new.password not in row.password_hash
    assert row.last_used_at is None

    found = await credentials.authenticate(db, new.username, new.password)
    assert found == credentials.AuthenticatedCredential(new.credential_id, new.username, domain_id)
    used = await db.scalar(
        select(SmtpCredential.last_used_at).where(SmtpCredential.id == new.credential_id)
    )
    assert used is not None


async def test_wrong_password_and_unknown_username_fail(db: Database) -> None:
    domain_id = await new_domain(db)
    new = await credentials.add_credential(db, domain_id)
    other = await credentials.add_credential(db, domain_id)
    assert other.username != new.username and other.password != new.password
    assert await credentials.authenticate(db, new.username, new.password + "x") is None
    assert await credentials.authenticate(db, new.username, other.password) is None
    assert await credentials.authenticate(db, "smtp_nobody", new.password) is None
    assert await credentials.authenticate(db, new.username, "") is None


async def test_credentials_need_an_existing_domain(db: Database) -> None:
    with pytest.raises(domains.NotFound):
        await credentials.add_credential(db, 999_999)


async def test_status_is_left_to_the_sender_context(db: Database) -> None:
    """`authenticate` checks only the secret; a disabled domain or deactivated owner is refused
    by the submission policy, from the sender context it loads for the credential's domain."""
    domain_id = await new_domain(db)
    new = await credentials.add_credential(db, domain_id)
    await domains.set_domain_status(db, domain_id, DomainStatus.DISABLED)
    context = await domains.sender_by_domain_id(db, domain_id)
    assert context is not None
    assert await accounts.set_user_status(db, context.user_id, UserStatus.DEACTIVATED)

    found = await credentials.authenticate(db, new.username, new.password)
    assert found is not None and found.domain_id == domain_id
    context = await domains.sender_by_domain_id(db, found.domain_id)
    assert context is not None
    assert (context.domain_status, context.user_status) == (
        DomainStatus.DISABLED,
        UserStatus.DEACTIVATED,
    )
    assert await credentials.authenticate(db, new.username, new.password.lower()) is None
