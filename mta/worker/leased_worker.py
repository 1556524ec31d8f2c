"""The one worker machine behind every queue Mailgate works off (delivery, webhook calls,
background jobs): claim a batch of due rows with a lease (storage/leases.py), run the items
with bounded concurrency, record their results in groups, and wait for work, room or the stop.

A subclass says what is its own: how to claim (`claim`), what a claimed batch becomes
(`prepare`: delivery groups recipients into transactions), the work (`process`), what an
unexpected error makes of an item (`crashed`: never a lost item), and how results are stored
(`record`). The machine keeps at most `max_in_flight` claimed rows in hand, from the claim until
their results are stored, so a slow store holds back claiming rather than memory.

Stopping (`stop` set, on SIGTERM in `mailgate serve`): nothing more is claimed, the items in
hand are finished and their results recorded before `run` returns. A crash between the work
and the record means the lease runs out and the item is done again: at least once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from storage.engine import Database

log = logging.getLogger("mailgate.worker")

ClaimT = TypeVar("ClaimT")  # a claimed row, as storage returns it
ItemT = TypeVar("ItemT")  # one unit of work made of claimed rows
ResultT = TypeVar("ResultT")  # what is recorded of it


def worker_name() -> str:
    """The name a worker's leases carry: host, process and a random part (a restarted
    process is a new worker)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def wait_any(stop: asyncio.Event, other: asyncio.Event | None, within: float | None) -> None:
    """Wait until `stop` or `other` is set, or `within` seconds have passed."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waiters.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


@dataclass(frozen=True)
class WorkerLimits:
    batch: int  # rows claimed at once
    max_in_flight: int  # rows in hand, claimed and not yet recorded
    lease: timedelta  # how long a claim holds before the rows are due again
    poll_interval: float  # seconds between claims while there is nothing due
    housekeeping_interval: float | None = None  # seconds between `housekeeping` calls


class LeasedWorker(Generic[ClaimT, ItemT, ResultT]):
    """Claims, runs and records; see the module's docstring for what a subclass gives."""

    def __init__(self, db: Database, limits: WorkerLimits, name: str | None = None) -> None:
        self.db = db
        self.limits = limits
        self.name = name or worker_name()
        self.in_flight = 0  # claimed rows not yet recorded
        self.stopping = False  # set once `stop` is seen: items not yet begun may give up
        self._finished: list[tuple[ItemT, list[ResultT]]] = []
        self._finished_ready = asyncio.Event()
        self._room = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what a subclass gives ---------------------------------------------------------------

    async def claim(self, limit: int) -> list[ClaimT]:
        raise NotImplementedError

    async def prepare(self, claimed: list[ClaimT]) -> list[ItemT]:
        """The units of work a claimed batch makes (by default, one per row)."""
        return list(claimed)  # type: ignore[arg-type]

    def weight(self, item: ItemT) -> int:
        """How many claimed rows `item` holds."""
        return 1

    async def process(self, item: ItemT) -> list[ResultT]:
        raise NotImplementedError

    def crashed(self, item: ItemT, error: Exception) -> list[ResultT]:
        """The results of an item whose work raised: tried again later, never lost."""
        raise NotImplementedError

    def describe(self, item: ItemT) -> str:
        return repr(item)

    async def record(self, results: list[ResultT]) -> None:
        raise NotImplementedError

    def logged(self, result: ResultT) -> None:
        """After its group is stored (or failed to be): log one result."""

    def recorded(self, items: Sequence[ItemT], results: Sequence[ResultT]) -> bool:
        """After a group is stored (or failed to be) and logged: True when this opens claimable
        work that the claim loop should look for at once (not only when it was full)."""
        return False

    async def housekeeping(self) -> None:
        """Every `housekeeping_interval` seconds (idle sessions to close, say)."""

    async def stopped(self) -> None:
        """After the last item is finished and before the last results are recorded."""

    async def close(self) -> None:
        """On the way out, whatever happened: close connections."""

    # -- the machine ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then finish the items in hand and record them."""
        recorder = asyncio.create_task(self._record_loop(stop), name=f"{self.name}-recorder")
        keeper = asyncio.create_task(self._housekeeping_loop(stop), name=f"{self.name}-keeper")
        try:
            while not stop.is_set():
                room = self.limits.max_in_flight - self.in_flight
                claimed = await self.claim(min(room, self.limits.batch)) if room > 0 else []
                if not claimed:
                    self._room.clear()
                    within = self.limits.poll_interval if room > 0 else None
                    await wait_any(stop, self._room, within)
                    continue
                await self._start(claimed)
            self.stopping = True
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.stopped()
        finally:
            self._finished_ready.set()
            await recorder
            keeper.cancel()
            await self.close()

    async def _start(self, claimed: list[ClaimT]) -> None:
        for item in await self.prepare(claimed):
            self.in_flight += self.weight(item)
            task = asyncio.create_task(self._run_item(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_item(self, item: ItemT) -> None:
        try:
            results = await self.process(item)
        except Exception as error:  # a bug must not lose the item
            log.exception("work failed worker=%s item=%s", self.name, self.describe(item))
            results = self.crashed(item, error)
        self._finished.append((item, results))
        self._finished_ready.set()

    async def _record_loop(self, stop: asyncio.Event) -> None:
        while True:
            await self._finished_ready.wait()
            self._finished_ready.clear()
            while self._finished:
                group, self._finished = self._finished, []
                await self._record_group(group)
            if stop.is_set() and not self._tasks:
                return

    async def _record_group(self, group: list[tuple[ItemT, list[ResultT]]]) -> None:
        items = [item for item, _ in group]
        results = [result for _, done in group for result in done]
        try:
            await self.record(results)
        except Exception:
            # The leases run out and the items are done again: at least once.
            log.exception("recording failed worker=%s results=%d", self.name, len(results))
        for result in results:
            self.logged(result)
        full = self.in_flight >= self.limits.max_in_flight
        self.in_flight -= sum(self.weight(item) for item in items)
        if self.recorded(items, results) or full:
            self._room.set()

    async def _housekeeping_loop(self, stop: asyncio.Event) -> None:
        interval = self.limits.housekeeping_interval
        if interval is None:
            return
        while not stop.is_set():
            await wait_any(stop, None, interval)
            try:
                await self.housekeeping()
            except Exception:  # the work goes on; the next round tries again
                log.exception("housekeeping failed worker=%s", self.name)
