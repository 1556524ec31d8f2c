"""Sender domains: creation with a DKIM key and a return-path relay domain, the user's limit,
status, and the lookups of the SMTP path (closest registered parent)."""

from __future__ import annotations

import asyncio
import base64

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from storage import accounts, domains
from storage.engine import Database
from storage.models import DomainStatus, InboundRelayDomain, SenderDomain, User, UserStatus


async def new_user(db: Database, email: str = "owner@example.com") -> int:
    return (await accounts.create_user(db, email)).user_id


async def test_add_domain_creates_a_pending_domain_with_key_and_relay_domain(db: Database) -> None:
    user_id = await new_user(db)
    domain = await domains.add_domain(db, user_id, "Example.COM.", "bounces")
    assert (domain.name, domain.status) == ("example.com", DomainStatus.APPROVAL_PENDING)
    assert domain.dkim_selector.startswith("mg")
    key = serialization.load_pem_private_key(domain.dkim_private_key.encode(), password=None)
    assert key.key_size == 2048  # type: ignore[union-attr]
    assert domain.webhook_signing_key.startswith("whsec_")
    # Standard Webhooks verifiers decode the part after whsec_ as standard base64.
    secret = domain.webhook_signing_key.removeprefix("whsec_")
    assert len(base64.b64decode(secret, validate=True)) >= 24
    assert domains.return_path_domain(domain, "bounces") == "bounces.example.com"
    assert await domains.is_inbound_relay_domain(db, "BOUNCES.example.com")
    assert not await domains.is_inbound_relay_domain(db, "example.com")
    assert not await domains.is_inbound_relay_domain(db, "bounces.example.org")


async def test_custom_return_path_subdomain(db: Database) -> None:
    user_id = await new_user(db)
    domain = await domains.add_domain(db, user_id, "example.com", "bounces", "rp")
    assert domains.return_path_domain(domain, "bounces") == "rp.example.com"
    names = [row[0] for row in await db.rows(select(InboundRelayDomain.name))]
    assert names == ["rp.example.com"]


async def test_unknown_user_duplicate_name_and_the_domain_limit(db: Database) -> None:
    with pytest.raises(domains.NotFound):
        await domains.add_domain(db, 999_999, "example.com", "bounces")
    user_id = await new_user(db)
    other = await new_user(db, "other@example.org")
    await domains.add_domain(db, user_id, "example.com", "bounces")
    with pytest.raises(accounts.AlreadyExists):
        await domains.add_domain(db, other, "EXAMPLE.com", "bounces")  # not even another user

    def setup(conn: Connection) -> None:
        conn.execute(update(User).where(User.id == user_id).values(max_sender_domains=2))

    await db.write(setup)
    await domains.add_domain(db, user_id, "example.net", "bounces")
    with pytest.raises(domains.LimitReached):
        await domains.add_domain(db, user_id, "example.org", "bounces")
    await domains.add_domain(db, other, "example.org", "bounces")  # the limit is per user


async def test_sender_lookup_finds_the_closest_registered_parent(db: Database) -> None:
    user_id = await new_user(db)
    parent = await domains.add_domain(db, user_id, "example.com", "bounces")
    child = await domains.add_domain(db, user_id, "mail.example.com", "bounces")
    await domains.set_domain_status(db, child.id, DomainStatus.ENABLED)

    found = await domains.sender_for_address_domain(db, "A.Mail.Example.com")
    assert found is not None
    assert (found.domain_id, found.domain, found.domain_status) == (
        child.id,
        "mail.example.com",
        DomainStatus.ENABLED,
    )
    assert (found.user_id, found.user_status) == (user_id, UserStatus.ACTIVE)
    assert found.dkim_private_key == child.dkim_private_key
    found = await domains.sender_for_address_domain(db, "b.example.com")
    assert found is not None and found.domain_id == parent.id
    assert found.domain_status == DomainStatus.APPROVAL_PENDING
    assert await domains.sender_for_address_domain(db, "example.org") is None
    assert await domains.sender_for_address_domain(db, "notexample.com") is None


async def test_status_changes_show_in_the_sender_context(db: Database) -> None:
    user_id = await new_user(db)
    domain = await domains.add_domain(db, user_id, "example.com", "bounces")
    for status in (DomainStatus.ENABLED, DomainStatus.DISABLED):
        await domains.set_domain_status(db, domain.id, status)
        context = await domains.sender_by_domain_id(db, domain.id)
        assert context is not None and context.domain_status == status
    assert await domains.sender_by_domain_id(db, 999_999) is None
    with pytest.raises(domains.NotFound):
        await domains.set_domain_status(db, 999_999, DomainStatus.ENABLED)


async def test_concurrent_adds_keep_to_the_domain_limit(db: Database) -> None:
    user_id = await new_user(db)

    def setup(conn: Connection) -> None:
        conn.execute(update(User).where(User.id == user_id).values(max_sender_domains=3))

    await db.write(setup)
    results = await asyncio.gather(
        *(domains.add_domain(db, user_id, f"d{i}.example", "bounces") for i in range(6)),
        return_exceptions=True,
    )
    kinds = sorted(type(result).__name__ for result in results)
    assert kinds == ["LimitReached"] * 3 + ["SenderDomain"] * 3


async def test_a_refused_add_leaves_no_rows(db: Database) -> None:
    """A duplicate or over-limit domain adds neither a domain nor a return-path relay domain."""
    user_id = await new_user(db)
    await domains.add_domain(db, user_id, "example.com", "bounces")
    with pytest.raises(accounts.AlreadyExists):
        await domains.add_domain(db, user_id, "example.com", "rp")

    def setup(conn: Connection) -> None:
        conn.execute(update(User).where(User.id == user_id).values(max_sender_domains=1))

    await db.write(setup)
    with pytest.raises(domains.LimitReached):
        await domains.add_domain(db, user_id, "example.net", "bounces")
    names = [row[0] for row in await db.rows(select(SenderDomain.name))]
    relays = [row[0] for row in await db.rows(select(InboundRelayDomain.name))]
    assert (names, relays) == (["example.com"], ["bounces.example.com"])


async def test_the_same_name_added_at_once_by_two_users(db: Database) -> None:
    first = await new_user(db)
    second = await new_user(db, "second@example.org")
    results = await asyncio.gather(
        *(domains.add_domain(db, user, "race.example", "bounces") for user in (first, second)),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["AlreadyExists", "SenderDomain"]
