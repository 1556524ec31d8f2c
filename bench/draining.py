"""Timing `mailgate worker` as it empties a backlog: shared by the delivery and webhook
benchmarks, which differ only in what they fill and what they count as done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from smtp_ingest import ROOT, group_cpu_seconds

sys.path.insert(0, str(ROOT))

from sqlalchemy import ColumnElement, func, select

from storage.engine import Database


@dataclass(frozen=True)
class Drained:
    rate: float  # items per second, from the first recorded item to the last
    total_seconds: float
    startup_seconds: float  # the worker's start-up: imports, schema check, first claim
    cpu_ms_per_item: float  # the worker's process group, user and system

    def fields(self, items: str, item: str) -> str:
        """The figures as key=value, e.g. `msgs_per_s=... worker_cpu_ms_per_msg=...`."""
        return (
            f"{items}_per_s={self.rate:.1f} total_seconds={self.total_seconds:.2f} "
            f"startup_seconds={self.startup_seconds:.2f} "
            f"worker_cpu_ms_per_{item}={self.cpu_ms_per_item:.2f}"
        )


async def count_where(url: str, condition: ColumnElement[bool]) -> int:
    """How many rows meet `condition` (one table's status, say), asked as a client would."""
    db = Database(url)
    try:
        return int(await db.scalar(select(func.count()).where(condition)) or 0)
    finally:
        await db.dispose()


def drain(env: dict[str, str], total: int, done: Callable[[], int]) -> Drained:
    """Start `mailgate worker` with `env` and poll `done()` until it reaches `total`."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "mailgate.cli", "worker"], env=env, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    try:
        cpu_before = group_cpu_seconds(worker.pid)
        started = time.perf_counter()
        count = 0
        first: tuple[float, int] | None = None  # when items began to be done, and how many
        while count < total:
            if worker.poll() is not None:
                raise SystemExit(f"mailgate worker exited with {worker.returncode}")
            time.sleep(0.05)
            count = done()
            if first is None and count:
                first = (time.perf_counter(), count)
        finished = time.perf_counter()
        assert first is not None
        user_cpu, system_cpu = (
            b - a for a, b in zip(cpu_before, group_cpu_seconds(worker.pid), strict=True)
        )
        return Drained(
            rate=(total - first[1]) / (finished - first[0]),
            total_seconds=finished - started,
            startup_seconds=first[0] - started,
            cpu_ms_per_item=(user_cpu + system_cpu) * 1000 / total,
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
