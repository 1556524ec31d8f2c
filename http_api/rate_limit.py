"""Requests per key per window on /api/v1 (`api_rate_limit`, `N/SECONDS`, `0` for none),
answered with 429, Retry-After and "Too many requests. Wait for X seconds for another Y
attempts." beyond it. Requests refused are not counted.

Every node counts against the same fixed windows: a window starts at a multiple of SECONDS of
the wall clock, so the nodes' clocks must agree (NTP) and every node needs the same setting.
A request never waits for the database. `retry_after` decides from memory: the key's last
known shared total plus the hits this process has counted since. A background task
(`start`/`close`, with the app's lifespan) sends those hits every SYNC_INTERVAL, or sooner
when a key's unsent hits reach a tenth of the limit: one transaction adds each key's hits to
its row of `rate_windows` and reads back the total across nodes (storage/rate_windows.py).

The bound: within one process the count is exact. Across nodes a process learns of the other
nodes' hits at its next sync, at most SYNC_INTERVAL (0.5 s) after it admits a request for
that key: so once the shared total has reached the limit, each other node may still admit
what reaches it for that key within one sync interval, and never more than the limit on its
own. When the database cannot be reached, hits stay counted locally and go at the next sync.

Keys are held only as SHA-256 digests, in memory and in the table. Each process deletes the
rows of windows before the previous one once per window.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from http_api.retry_after import RetryAfter
from http_api.v1_envelope import V1Error
from storage.engine import Database
from storage.rate_windows import add_hits, purge_windows

log = logging.getLogger("mailgate.http")

SYNC_INTERVAL = 0.5
# Least time between two syncs, however often keys near their limit ask for one.
MIN_GAP = 0.05
# A key whose unsent hits reach limit // EARLY_SHARE (at least 1) asks for a sync at once.
EARLY_SHARE = 10


@dataclass(slots=True)
class _Window:
    """One key's count in the current window, as this process knows it."""

    start: int
    shared: int = 0  # the total across nodes at the last sync, this process's sent hits included
    sending: int = 0  # hits in the sync under way
    pending: int = 0  # hits not sent yet

    @property
    def count(self) -> int:
        return self.shared + self.sending + self.pending


class RateLimiter:
    def __init__(self, limit: int, window: int, db: Database) -> None:
        self.limit, self.window, self.db = limit, window, db
        self._windows: dict[str, _Window] = {}
        self._unsent: dict[str, _Window] = {}  # the windows with pending hits: a sync's work
        self._current = 0  # the window start `_windows` was last pruned for
        self._early = max(1, limit // EARLY_SHARE)
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._purged_for: int | None = None

    def _window_start(self, now: float) -> int:
        return int(now // self.window) * self.window

    def retry_after(self, key: str) -> RetryAfter | None:
        """None when this request may go ahead (and it is counted); else the wait."""
        if not self.limit:
            return None
        now = time.time()
        start = self._window_start(now)
        slot = hashlib.sha256(key.encode()).hexdigest()
        window = self._windows.get(slot)
        if window is None or window.start != start:
            window = self._windows[slot] = _Window(start)
        if window.count >= self.limit:
            return RetryAfter(start + self.window - now, self.limit)
        window.pending += 1
        if window.pending == 1:
            self._unsent[slot] = window
        if window.pending >= self._early:
            self._wake.set()
        return None

    def start(self) -> None:
        """Start syncing with the database (nothing to do without a limit)."""
        if self.limit and self._task is None:
            self._task = asyncio.create_task(self._run(), name="api-rate-limit-sync")

    async def close(self) -> None:
        """Send the last hits and stop."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SYNC_INTERVAL)
            self._wake.clear()
            closing = self._closing
            await self._sync()
            if closing:
                return
            await asyncio.sleep(MIN_GAP)

    async def _sync(self) -> None:
        """Send the hits counted since the last sync and learn each key's shared total."""
        start = self._window_start(time.time())
        if self._current != start:  # a new window: forget the keys of those that are over
            self._current = start
            self._windows = {slot: w for slot, w in self._windows.items() if w.start == start}
        unsent, self._unsent = self._unsent, {}
        batch = {slot: w for slot, w in unsent.items() if w.start == start and w.pending}
        for window in batch.values():
            window.sending, window.pending = window.pending, 0
        purge = self._purged_for != start
        if not batch and not purge:
            return
        hits = {slot: window.sending for slot, window in batch.items()}
        try:
            totals = await self.db.write(lambda conn: self._store(conn, start, hits, purge))
        except Exception as error:  # any failure of the store: count on, send at the next sync
            log.warning("api rate limit sync failed keys=%d error=%r", len(hits), error)
            for slot, window in batch.items():
                window.sending, window.pending = 0, window.pending + window.sending
                self._unsent.setdefault(slot, window)
            return
        for slot, window in batch.items():
            window.shared, window.sending = totals[slot], 0
        if purge:
            self._purged_for = start

    def _store(
        self, conn: Connection, start: int, hits: dict[str, int], purge: bool
    ) -> dict[str, int]:
        """In the writer's transaction: no state of the limiter is touched here."""
        totals = add_hits(conn, start, hits) if hits else {}
        if purge:
            purge_windows(conn, before=start - self.window)
        return totals


def limit_reached(wait: RetryAfter) -> V1Error:
    """The 429 refusal, with the wait in the message and in Retry-After."""
    seconds = max(1, math.ceil(wait))
    message = f"Too many requests. Wait for {seconds} seconds for another {wait.attempts} attempts."
    return V1Error(429, message, 429, {"Retry-After": str(seconds)})
