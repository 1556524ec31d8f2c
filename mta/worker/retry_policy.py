"""When a failed attempt is tried again, and when it is given up: one rule for every queue that
retries (delivery, webhook calls, background jobs' callbacks).

The n-th failed attempt waits the schedule's n-th delay, give or take 10% so that retries of
items that failed together do not come back together. Past the schedule, one of two expiry
rules applies: with a `max_age` (delivery's queue lifetime) the last delay repeats until the
item is that old, and the next try is never set past that age; without one, the item is given
up after the schedule's last delay (webhook calls are dead-lettered, jobs fail).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    delays: tuple[float, ...]  # seconds after the 1st, 2nd, ... failed attempt; not empty
    max_age: float | None = None  # seconds from `since` after which an item is given up
    jitter: float = 0.1  # each delay is scaled by a random factor within 1 +/- jitter

    def next_attempt(
        self,
        attempt: int,
        now: datetime,
        since: datetime | None = None,
        at_least: float = 0.0,
    ) -> datetime | None:
        """When to try again after failed attempt number `attempt` (1 for the first), or None
        to give up. `since` is when the item was first queued (needed with a `max_age`);
        `at_least` is a wait the other side asked for (a webhook's Retry-After)."""
        expires = None
        if self.max_age is not None:
            expires = (since or now) + timedelta(seconds=self.max_age)
            if now >= expires:
                return None
        elif attempt > len(self.delays):
            return None
        delay = self.delays[min(attempt, len(self.delays)) - 1]
        delay = max(delay * random.uniform(1 - self.jitter, 1 + self.jitter), at_least)
        later = now + timedelta(seconds=delay)
        return later if expires is None else min(later, expires)
