"""mta/worker/retry_policy.py: the one backoff rule of delivery, webhook calls and background
jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mta.worker.retry_policy import RetryPolicy

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SCHEDULE = (5.0, 60.0, 600.0)


def seconds(later: datetime | None) -> float | None:
    return None if later is None else (later - NOW).total_seconds()


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 5.0), (2, 60.0), (3, 600.0), (4, None), (9, None)],
)
def test_without_max_age_the_schedule_runs_out(attempt: int, expected: float | None) -> None:
    """Webhook calls and jobs: the n-th failure waits the n-th delay; past the last, give up."""
    policy = RetryPolicy(SCHEDULE, jitter=0)
    assert seconds(policy.next_attempt(attempt, NOW)) == expected


@pytest.mark.parametrize(
    ("attempt", "age", "expected"),
    [
        (1, 0, 5.0),
        (3, 0, 600.0),
        (4, 0, 600.0),  # past the schedule the last delay repeats ...
        (40, 3000, 600.0),
        (40, 3500, 100.0),  # ... but never past the lifetime
        (2, 3600, None),  # a message as old as its lifetime expires
        (1, 7200, None),
    ],
)
def test_with_max_age_the_last_delay_repeats_until_the_item_expires(
    attempt: int, age: float, expected: float | None
) -> None:
    """Delivery: the queue lifetime, not the schedule's length, ends the retries."""
    policy = RetryPolicy(SCHEDULE, max_age=3600, jitter=0)
    since = NOW - timedelta(seconds=age)
    assert seconds(policy.next_attempt(attempt, NOW, since=since)) == expected


def test_jitter_spreads_retries_within_ten_percent() -> None:
    policy = RetryPolicy((100.0,), max_age=10_000)
    delays = {seconds(policy.next_attempt(1, NOW, since=NOW)) for _ in range(200)}
    assert all(d is not None and 90.0 <= d <= 110.0 for d in delays)
    assert len(delays) > 100  # not one value for every item that failed together


def test_a_wait_the_other_side_asked_for_is_honoured() -> None:
    """A webhook's Retry-After lengthens the wait, never shortens it."""
    policy = RetryPolicy(SCHEDULE, jitter=0)
    assert seconds(policy.next_attempt(1, NOW, at_least=120.0)) == 120.0
    assert seconds(policy.next_attempt(3, NOW, at_least=120.0)) == 600.0
    assert policy.next_attempt(4, NOW, at_least=120.0) is None  # the schedule still ends
