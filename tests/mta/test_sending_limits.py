"""mta/submission/sending_limits.py in process, on a real (empty) database, SQLite and PostgreSQL:
reservations against the tighter of the hourly and daily limits, refused whole, given back, and
batches counted with `note`. What other nodes queued comes from the store and is tested with the
queue (tests/http_api/test_api_email.py, tests/mta/test_campaign_scheduler.py)."""

from __future__ import annotations

import dataclasses

import pytest

from mta.submission.sending_limits import SendingLimits
from storage.domains import SenderContext
from storage.engine import Database
from tests.mta.support import ENABLED_SENDER as SENDER


def limited(hourly: int | None, daily: int | None, user_id: int = 3) -> SenderContext:
    return dataclasses.replace(
        SENDER, send_limit_hourly=hourly, send_limit_daily=daily, user_id=user_id
    )


@pytest.mark.parametrize(
    ("hourly", "daily", "asks", "granted", "room"),
    [
        (None, None, [10**6, 10**6], [True, True], None),  # no limits: nothing is counted
        (5, None, [3, 3, 2, 1], [True, False, True, False], 0),  # a refusal counts nothing
        (None, 4, [4, 1], [True, False], 0),
        (10, 4, [5, 4], [False, True], 0),  # the tighter limit decides
        (4, 10, [5, 4], [False, True], 0),
        (5, 5, [0, 5, 0], [True, True, True], 0),  # nothing to send always fits
        (0, None, [1], [False], 0),  # a limit of zero sends nothing
        (5, None, [], [], 5),
    ],
)
async def test_reserve(
    db: Database,
    hourly: int | None,
    daily: int | None,
    asks: list[int],
    granted: list[bool],
    room: int | None,
) -> None:
    limits, sender = SendingLimits(db), limited(hourly, daily)
    assert [await limits.reserve(sender, ask) for ask in asks] == granted
    assert await limits.room(sender) == room


async def test_release_gives_back_what_was_not_queued(db: Database) -> None:
    limits, sender = SendingLimits(db), limited(5, None)
    assert await limits.reserve(sender, 5)
    limits.release(sender, 2)
    assert await limits.room(sender) == 2
    limits.release(sender, 100)  # never below what the store counted
    assert await limits.room(sender) == 5


async def test_note_counts_a_batch_queued_outside_reserve(db: Database) -> None:
    limits, sender = SendingLimits(db), limited(None, 10)
    limits.note(sender, 4)  # before the store was asked: the store will count it itself
    assert await limits.room(sender) == 10
    limits.note(sender, 4)
    assert await limits.room(sender) == 6
    limits.note(sender, 9)
    assert await limits.room(sender) == 0  # over the limit: no room, never negative
    assert not await limits.reserve(sender, 1)


async def test_each_user_has_limits_of_their_own(db: Database) -> None:
    limits = SendingLimits(db)
    first, second = limited(3, None, user_id=3), limited(3, None, user_id=4)
    assert await limits.reserve(first, 3)
    assert await limits.reserve(second, 3)
    assert not await limits.reserve(first, 1)
