"""Sender domains: creation with a DKIM key and a return-path relay domain, the user's limit,
status, and the lookups of the SMTP path (closest registered parent)."""

from __future__ import annotations

import asyncio
import base64

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import accounts, domains
from storage.engine import Database
from storage.models import DomainStatus, InboundRelayDomain, SenderDomain, User, UserStatus


async def new_user(engine: AsyncEngine, email: str = "owner@example.com") -> int:
    return (await accounts.create_user(engine, email)).user_id


async def test_add_domain_creates_a_pending_domain_with_key_and_relay_domain(
    engine: AsyncEngine, db: Database
) -> None:
    user_id = await new_user(engine)
    domain = await domains.add_domain(engine, user_id, "Example.COM.", "bounces")
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


async def test_custom_return_path_subdomain(engine: AsyncEngine, db: Database) -> None:
    user_id = await new_user(engine)
    domain = await domains.add_domain(engine, user_id, "example.com", "bounces", "rp")
    assert domains.return_path_domain(domain, "bounces") == "rp.example.com"
    async with engine.connect() as conn:
        names = (await conn.execute(select(InboundRelayDomain.name))).scalars().all()
    assert names == ["rp.example.com"]


async def test_unknown_user_duplicate_name_and_the_domain_limit(engine: AsyncEngine) -> None:
    with pytest.raises(domains.NotFound):
        await domains.add_domain(engine, 999_999, "example.com", "bounces")
    user_id = await new_user(engine)
    other = await new_user(engine, "other@example.org")
    await domains.add_domain(engine, user_id, "example.com", "bounces")
    with pytest.raises(accounts.AlreadyExists):
        await domains.add_domain(engine, other, "EXAMPLE.com", "bounces")  # not even another user

    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(max_sender_domains=2))
    await domains.add_domain(engine, user_id, "example.net", "bounces")
    with pytest.raises(domains.LimitReached):
        await domains.add_domain(engine, user_id, "example.org", "bounces")
    await domains.add_domain(engine, other, "example.org", "bounces")  # the limit is per user


async def test_sender_lookup_finds_the_closest_registered_parent(
    engine: AsyncEngine, db: Database
) -> None:
    user_id = await new_user(engine)
    parent = await domains.add_domain(engine, user_id, "example.com", "bounces")
    child = await domains.add_domain(engine, user_id, "mail.example.com", "bounces")
    await domains.set_domain_status(engine, child.id, DomainStatus.ENABLED)

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


async def test_status_changes_show_in_the_sender_context(engine: AsyncEngine, db: Database) -> None:
    user_id = await new_user(engine)
    domain = await domains.add_domain(engine, user_id, "example.com", "bounces")
    for status in (DomainStatus.ENABLED, DomainStatus.DISABLED):
        await domains.set_domain_status(engine, domain.id, status)
        context = await domains.sender_by_domain_id(db, domain.id)
        assert context is not None and context.domain_status == status
    assert await domains.sender_by_domain_id(db, 999_999) is None
    with pytest.raises(domains.NotFound):
        await domains.set_domain_status(engine, 999_999, DomainStatus.ENABLED)


async def test_concurrent_adds_keep_to_the_domain_limit(engine: AsyncEngine) -> None:
    user_id = await new_user(engine)
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(max_sender_domains=3))
    results = await asyncio.gather(
        *(domains.add_domain(engine, user_id, f"d{i}.example", "bounces") for i in range(6)),
        return_exceptions=True,
    )
    kinds = sorted(type(result).__name__ for result in results)
    assert kinds == ["LimitReached"] * 3 + ["SenderDomain"] * 3


async def test_a_refused_add_leaves_no_rows(engine: AsyncEngine) -> None:
    """A duplicate or over-limit domain adds neither a domain nor a return-path relay domain."""
    user_id = await new_user(engine)
    await domains.add_domain(engine, user_id, "example.com", "bounces")
    with pytest.raises(accounts.AlreadyExists):
        await domains.add_domain(engine, user_id, "example.com", "rp")
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(max_sender_domains=1))
    with pytest.raises(domains.LimitReached):
        await domains.add_domain(engine, user_id, "example.net", "bounces")
    async with engine.connect() as conn:
        names = (await conn.execute(select(SenderDomain.name))).scalars().all()
        relays = (await conn.execute(select(InboundRelayDomain.name))).scalars().all()
    assert (names, relays) == (["example.com"], ["bounces.example.com"])


async def test_the_same_name_added_at_once_by_two_users(engine: AsyncEngine) -> None:
    first = await new_user(engine)
    second = await new_user(engine, "second@example.org")
    results = await asyncio.gather(
        *(domains.add_domain(engine, user, "race.example", "bounces") for user in (first, second)),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["AlreadyExists", "SenderDomain"]
