"""Password verification per process: a bounded number at once and a bounded queue (beyond it
VerificationBusy at once), and a success remembered briefly for that credential, that stored
hash and that password only."""

from __future__ import annotations

import asyncio

import pytest
from argon2 import PasswordHasher

from storage import accounts, credentials, domains
from storage.engine import Database
from storage.password_checks import PasswordChecks, VerificationBusy
from storage.tokens import hash_password

PASSWORD = "correct horse battery staple"


# Real argon2id hashes, with a small cost: verification reads the cost from the hash.
CHEAP = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture(scope="module")
def stored() -> str:
    return CHEAP.hash(PASSWORD)


async def test_verifications_beyond_the_running_and_waiting_ones_are_refused_at_once(
    stored: str,
) -> None:
    checks = PasswordChecks(concurrency=1, max_waiting=1)
    results = await asyncio.gather(
        *(checks.verify("smtp_credential:1", stored, f"guess {i}") for i in range(3)),
        return_exceptions=True,
    )
    assert sorted(map(repr, results)) == ["False", "False", "VerificationBusy()"]
    assert await checks.verify("smtp_credential:1", stored, PASSWORD)  # room again afterwards


async def test_a_success_is_remembered_for_that_credential_hash_and_password(stored: str) -> None:
    """With the one slot taken, only what is remembered is answered without a verification."""
    now = [0.0]
    checks = PasswordChecks(concurrency=1, max_waiting=0, remember_seconds=10, clock=lambda: now[0])
    assert await checks.verify("smtp_credential:1", stored, PASSWORD)
    other_hash = CHEAP.hash("a changed password")

    # A verification at argon2's full cost (a quarter of a second) holds the one slot meanwhile.
    slow = hash_password("another credential's password")
    busy = asyncio.create_task(checks.verify("smtp_credential:9", slow, "a wrong guess"))
    while not checks.pending:  # until it holds the slot
        await asyncio.sleep(0)
    assert await checks.verify("smtp_credential:1", stored, PASSWORD)  # remembered
    for owner, hash_, password in (
        ("smtp_credential:1", stored, "another password"),  # failures are never remembered
        ("smtp_credential:2", stored, PASSWORD),  # another credential
        ("smtp_credential:1", other_hash, PASSWORD),  # a changed password's hash
        (None, None, PASSWORD),  # an unknown user
    ):
        with pytest.raises(VerificationBusy):
            await checks.verify(owner, hash_, password)
    now[0] = 10.0  # seconds, not minutes: then it is verified again
    with pytest.raises(VerificationBusy):
        await checks.verify("smtp_credential:1", stored, PASSWORD)
    assert await busy is False


async def test_the_same_question_asked_at_once_is_verified_once(stored: str) -> None:
    """A client's connections logging in together share one verification (with room for one,
    the others would have been refused)."""
    checks = PasswordChecks(concurrency=1, max_waiting=0)
    together = [checks.verify("smtp_credential:1", stored, PASSWORD) for _ in range(5)]
    assert await asyncio.gather(*together) == [True] * 5
    wrong = [checks.verify("smtp_credential:1", stored, "guess") for _ in range(3)]
    assert await asyncio.gather(*wrong) == [False] * 3


async def test_the_remembered_successes_are_bounded(stored: str) -> None:
    checks = PasswordChecks(max_remembered=2)
    for owner in ("a", "b", "c"):
        assert await checks.verify(owner, stored, PASSWORD)
    assert len(checks._remembered) == 2  # the oldest, "a", is forgotten


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # keying is backend-blind
async def test_a_reset_or_deleted_password_is_not_honoured_from_memory(db: Database) -> None:
    checks = PasswordChecks()
    user = await accounts.create_user(db, "owner@example.com")
    domain = await domains.add_domain(db, user.user_id, "example.com", "bounces")
    new = await credentials.add_credential(db, domain.id)
    assert await credentials.authenticate(db, new.username, new.password, checks) is not None

    reset = await credentials.reset_password(db, new.credential_id, user.user_id)
    assert await credentials.authenticate(db, new.username, new.password, checks) is None
    assert await credentials.authenticate(db, new.username, reset.password, checks) is not None
    await credentials.delete_credential(db, new.credential_id)
    assert await credentials.authenticate(db, new.username, reset.password, checks) is None
