"""Per-destination limits on delivery: sessions at once, messages per minute, and pooled
sessions reused while busy and closed once idle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise

import pytest

from tests.conftest import wait_until
from tests.mta.sink import Sink
from tests.mta.test_delivery import Setup, settled, start_setup, submit

RATE_PER_MINUTE = 120  # one message every half second


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with Sink() as sink:
        running = start_setup(
            tmp_path_factory.mktemp("limits"),
            sink,
            "limits.test",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_DESTINATION_CONCURRENCY="1",
            MAILGATE_DESTINATION_RATE_LIMIT=str(RATE_PER_MINUTE),
            MAILGATE_CONNECTION_IDLE_TIMEOUT="1",
        )
        try:
            yield running
        finally:
            running.gateway.stop()


def test_one_session_reused_at_the_rate_limit_then_closed_when_idle(setup: Setup) -> None:
    recipients = [f"ok-{n}@limits.example" for n in range(4)]
    queued = [submit(setup, [recipient]) for recipient in recipients]
    for queue_id, recipient in zip(queued, recipients, strict=True):
        settled(setup, queue_id, {recipient: "delivered"})

    assert setup.sink.handler.sessions == 1  # one session at a time, and it was reused
    rows = setup.gateway.sql(
        "SELECT created_at FROM events"
        " WHERE type = 'delivered' AND recipient LIKE '%@limits.example' ORDER BY created_at",
    )
    times = [datetime.fromisoformat(row[0]) for row in rows]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
    assert len(gaps) == 3 and min(gaps) >= 0.4, gaps  # 120 a minute: one each half second

    wait_until(lambda: setup.sink.handler.quits == 1, timeout=10)  # idle for a second: QUIT
    assert json.loads(setup.gateway.cli("queue").stdout) == [
        {"Domain": "limits.example", "Status": "delivered", "Count": 4}
    ]
