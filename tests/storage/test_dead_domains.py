"""A domain without mail service suppresses its addresses only when seen so twice at least an
hour apart (issue 16): one NXDOMAIN can be a DNS outage or a domain not yet set up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.engine import Database
from storage.suppressions import DEAD_DOMAIN_SPAN, FORGET_DEAD_DOMAIN, seen_dead_long_enough

NOON = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


async def seen(db: Database, address: str, at: datetime) -> bool:
    return await db.write(lambda conn: seen_dead_long_enough(conn, address, at))


async def test_two_sightings_an_hour_apart_make_the_domain_dead(db: Database) -> None:
    assert not await seen(db, "a@gone.test", NOON)  # once is no proof
    assert not await seen(db, "b@gone.test", NOON + DEAD_DOMAIN_SPAN - timedelta(minutes=1))
    assert await seen(db, "c@GONE.test", NOON + DEAD_DOMAIN_SPAN)  # any address of the domain
    assert not await seen(db, "a@other.test", NOON + DEAD_DOMAIN_SPAN)  # domains apart


async def test_a_sighting_long_ago_starts_the_count_again(db: Database) -> None:
    assert not await seen(db, "a@gone.test", NOON)
    later = NOON + FORGET_DEAD_DOMAIN + timedelta(hours=2)
    assert not await seen(db, "a@gone.test", later)  # the domain may have been set up meanwhile
    assert await seen(db, "a@gone.test", later + DEAD_DOMAIN_SPAN)
