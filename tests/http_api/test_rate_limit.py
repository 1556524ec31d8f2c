"""The /api/v1 rate limit (`MAILGATE_API_RATE_LIMIT`), against running gateways: 429 with the
documented message and Retry-After, off with `0`, and one count for a key across two nodes on
one database (a shared SQLite file, and PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from storage.engine import Database
from storage.models import RateWindow
from tests.conftest import BACKENDS, Gateway, wait_until
from tests.http_api.conftest import serving

MESSAGE = re.compile(r"Too many requests\. Wait for (\d+) seconds for another (\d+) attempts\.")
# Windows are aligned to the wall clock: an hour makes a test crossing a boundary unlikely.
HOUR = 3600


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def stored_hits(url: str) -> dict[str, int]:
    """Hits per key hash in the shared table, summed over its windows."""

    async def read() -> dict[str, int]:
        db = Database(url)
        try:
            query = select(RateWindow.key_hash, func.sum(RateWindow.hits)).group_by(
                RateWindow.key_hash
            )
            return {key: int(hits) for key, hits in await db.rows(query)}
        finally:
            await db.dispose()

    return asyncio.run(read())


def domains(client: httpx.Client, key: str) -> httpx.Response:
    return client.post("/api/v1/sender.domains", headers={"Authorization": f"Bearer {key}"})


def assert_refused(answer: httpx.Response, attempts: int, window: int) -> None:
    assert answer.status_code == 429, answer.text
    [error] = answer.json()["Errors"]
    assert error["Code"] == 429
    wait = MESSAGE.fullmatch(error["Message"])
    assert wait, error["Message"]
    assert wait.group(1) == answer.headers["Retry-After"]
    assert 1 <= int(wait.group(1)) <= window
    assert int(wait.group(2)) == attempts


def test_beyond_the_limit_429_says_how_long_and_for_how_many(gateway_factory: Any) -> None:
    gateway = gateway_factory(MAILGATE_SMTP_PROCESSES="1", MAILGATE_API_RATE_LIMIT=f"3/{HOUR}")
    key = gateway.json("admin-key")["AdminAPIKey"]
    with serving(gateway) as client:
        answers = [domains(client, key) for _ in range(5)]
        # The MX relay check asks for every message: it is never limited.
        relay = [
            client.post(
                "/api/v1/inbound-relay-domain-check",
                headers={"Authorization": f"Bearer {key}"},
                json={"domain": "unknown.test"},
            )
            for _ in range(5)
        ]
        other = domains(client, "not-the-admin-key")
        # No credential from a trusted network (loopback): counted per client address.
        keyless = [client.post("/api/v1/sender.domains") for _ in range(4)]
        # Refused requests are not counted; the key is stored only as its digest.
        counted = {digest(key): 3, digest("trusted-network:127.0.0.1"): 3}
        wait_until(lambda: stored_hits(gateway.database_url) == counted)
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert [answer.status_code for answer in keyless] == [200, 200, 200, 429]
    for answer in answers[3:]:
        assert_refused(answer, attempts=3, window=HOUR)
    assert [answer.status_code for answer in relay] == [500] * 5  # relay denied, not 429
    assert other.status_code == 403  # another key, counted apart, refused for its own reason
    if gateway.on_sqlite:  # nor anywhere in the file, its free pages included
        assert key.encode() not in (gateway.data_dir / "mailgate.db").read_bytes()


def test_a_refused_key_is_admitted_again_when_its_window_ends(gateway_factory: Any) -> None:
    gateway = gateway_factory(MAILGATE_SMTP_PROCESSES="1", MAILGATE_API_RATE_LIMIT="2/2")
    key = gateway.json("admin-key")["AdminAPIKey"]
    with serving(gateway) as client:
        refused = wait_until(lambda: (answer := domains(client, key)).status_code == 429 and answer)
        admitted_again = wait_until(lambda: domains(client, key).status_code == 200, timeout=5)
    assert_refused(refused, attempts=2, window=2)
    assert admitted_again


def test_zero_turns_the_limit_off(gateway_factory: Any) -> None:
    gateway = gateway_factory(MAILGATE_SMTP_PROCESSES="1", MAILGATE_API_RATE_LIMIT="0")
    key = gateway.json("admin-key")["AdminAPIKey"]
    with serving(gateway) as client:
        statuses = {domains(client, key).status_code for _ in range(101)}
    assert statuses == {200}
    assert stored_hits(gateway.database_url) == {}  # nothing counted, nothing shared


LIMIT = 6


@pytest.fixture(params=BACKENDS)
def two_nodes(
    request: pytest.FixtureRequest, gateway_factory: Any
) -> Iterator[tuple[str, Gateway, Gateway]]:
    """Two gateways (two `mailgate serve`, each its own HTTP process) on one database."""
    settings = {"MAILGATE_SMTP_PROCESSES": "1", "MAILGATE_API_RATE_LIMIT": f"{LIMIT}/{HOUR}"}
    if request.param == "sqlite":
        first = gateway_factory(**settings)
    else:
        first = gateway_factory(
            MAILGATE_DATABASE_URL=request.getfixturevalue("postgres_url"), **settings
        )
    url = first.database_url
    second = gateway_factory(joining=first, **settings)
    yield url, first, second


def test_requests_spread_over_two_nodes_are_limited_in_total(
    two_nodes: tuple[str, Gateway, Gateway],
) -> None:
    url, first, second = two_nodes
    key = first.json("admin-key")["AdminAPIKey"]  # the admin key lives in the shared database
    with serving(first) as one, serving(second) as two:
        nodes = (one, two)
        for n in range(LIMIT):
            assert domains(nodes[n % 2], key).status_code == 200
            wait_until(lambda n=n: stored_hits(url).get(digest(key)) == n + 1)
        # Each node admitted 3 requests itself. Alone, each would admit 3 more; sharing, the
        # second node learnt all 6 with its last hit, the first 5 of 6 with its own last one.
        admitted = [0, 0]

        def refused_by(index: int) -> bool:
            answer = domains(nodes[index], key)
            if answer.status_code == 200:
                admitted[index] += 1
                return False
            assert_refused(answer, attempts=LIMIT, window=HOUR)
            return True

        wait_until(lambda: refused_by(1))
        wait_until(lambda: refused_by(0))
        # Whatever was admitted beyond the limit is in the shared count too.
        wait_until(lambda: stored_hits(url).get(digest(key)) == LIMIT + sum(admitted))
    # At most what reached a node within one sync interval: here its stale view allowed one.
    assert admitted[0] <= 1 and admitted[1] <= 1
