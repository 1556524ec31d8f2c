"""mta/worker/leased_worker.py, the machine every queue worker runs on, driven in process by a small
worker of its own kind: items handed out from a list instead of a table (the claims are
storage/leases.py's, tested with storage), the work an awaitable the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from mta.worker.leased_worker import LeasedWorker, WorkerLimits
from tests.conftest import async_wait_until


class ListWorker(LeasedWorker[int, int, str]):
    """Claims numbers from `due`; the work of n waits for `release` (when given), fails for
    the numbers in `broken`; results are 'done n' or 'crashed n'."""

    def __init__(self, due: list[int], limits: WorkerLimits) -> None:
        super().__init__(None, limits, name="test-worker")  # type: ignore[arg-type]
        self.due = due
        self.release: asyncio.Event | None = None
        self.broken: set[int] = set()
        self.running = 0
        self.most_running = 0
        self.stored: list[str] = []
        self.store_fails = 0  # the next so many `record` calls raise

    async def claim(self, limit: int) -> list[int]:
        claimed, self.due[:limit] = self.due[:limit], []
        return claimed

    async def process(self, item: int) -> list[str]:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.release is not None:
                await self.release.wait()
            if item in self.broken:
                raise RuntimeError(f"bug {item}")
            return [f"done {item}"]
        finally:
            self.running -= 1

    def crashed(self, item: int, error: Exception) -> list[str]:
        return [f"crashed {item}"]

    async def record(self, results: list[str]) -> None:
        if self.store_fails:
            self.store_fails -= 1
            raise OSError("database is gone")
        self.stored.extend(results)

    def recorded(self, items: Sequence[int], results: Sequence[str]) -> bool:
        return False


async def until(condition: Callable[[], bool]) -> None:
    """Wait (on the loop the worker runs on) until `condition()` holds."""

    async def check() -> bool:
        return condition()

    await async_wait_until(check, timeout=10)


def limits(max_in_flight: int = 100, batch: int = 10) -> WorkerLimits:
    return WorkerLimits(batch, max_in_flight, timedelta(minutes=1), poll_interval=0.01)


async def run_until_stored(worker: ListWorker, count: int) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: len(worker.stored) >= count)
    finally:
        stop.set()
        await running


async def test_every_item_is_worked_and_recorded_once() -> None:
    worker = ListWorker(list(range(95)), limits())
    await run_until_stored(worker, 95)
    assert sorted(worker.stored) == sorted(f"done {n}" for n in range(95))
    assert worker.in_flight == 0


async def test_no_more_items_are_in_hand_than_max_in_flight() -> None:
    worker = ListWorker(list(range(40)), limits(max_in_flight=7, batch=5))
    worker.release = asyncio.Event()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: worker.running == 7)
        assert (worker.in_flight, len(worker.due)) == (7, 33)
        worker.release.set()
        await until(lambda: len(worker.stored) == 40)
    finally:
        stop.set()
        await running
    assert worker.most_running == 7


async def test_an_item_whose_work_raises_is_recorded_as_crashed_not_lost() -> None:
    worker = ListWorker(list(range(6)), limits())
    worker.broken = {2, 4}
    await run_until_stored(worker, 6)
    assert sorted(worker.stored) == [
        "crashed 2",
        "crashed 4",
        "done 0",
        "done 1",
        "done 3",
        "done 5",
    ]


async def test_a_failed_record_lets_the_items_go_and_the_work_goes_on() -> None:
    """The leases bring unrecorded items back; the worker must not hold them forever."""
    worker = ListWorker([1], limits(max_in_flight=1, batch=1))
    worker.store_fails = 1
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: not worker.due and worker.in_flight == 0)
        worker.due.append(2)
        await until(lambda: worker.stored == ["done 2"])
    finally:
        stop.set()
        await running


@pytest.mark.parametrize("items", [1, 12])
async def test_stop_finishes_the_items_in_hand_and_records_them(items: int) -> None:
    worker = ListWorker(list(range(items)), limits())
    worker.release = asyncio.Event()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await until(lambda: worker.running == items)
    worker.due.extend([100, 101])  # due, but claimed no more once the stop came
    stop.set()
    await asyncio.sleep(0)
    assert not running.done()  # waits for the work in hand
    worker.release.set()
    await asyncio.wait_for(running, 10)
    assert sorted(worker.stored) == sorted(f"done {n}" for n in range(items))
    assert worker.due == [100, 101]
