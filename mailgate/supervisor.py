"""`mailgate serve`'s supervisor: forks the worker processes, restarts one that dies (after a
delay that doubles while it keeps dying, with one log line per death saying why), publishes
what is wrong (failed workers, unbound listeners) in the run directory for /readyz, runs a
fallback in place of the HTTP workers while none runs, and stops them all on SIGTERM or SIGINT.

It stays single-threaded with no event loop, so forking from it is safe.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from mailgate.worker_health import Failure, RunDirectory, describe, exit_description

log = logging.getLogger("mailgate.serve")  # one logger for all of `serve`, as operators read it

KILL_AFTER = 60.0
# A worker that dies is started again after 1, 2, 4 ... seconds, at most a minute: one that
# cannot start (an import error, a bad setting) is retried ever more slowly, never in a tight
# loop. A worker that has run HEALTHY_AFTER seconds is healthy again: its failures are forgotten
# (and leave /readyz) and its next death starts the series from one second.
RESTART_BACKOFF = 1.0
RESTART_BACKOFF_MAX = 60.0
HEALTHY_AFTER = 10.0
SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}


def restart_delay(failures: int) -> float:
    """How long a worker that has died `failures` times in a row waits to be started again."""
    return float(min(RESTART_BACKOFF_MAX, RESTART_BACKOFF * 2 ** (failures - 1)))


@dataclass
class Slot:
    """A process the supervisor keeps running: the one running now, and its run of failures
    (what the backoff and /readyz are computed from)."""

    index: int
    name: str
    run: Callable[[], None]
    pid: int | None = None
    started: float = 0.0
    failures: int = 0  # unexpected exits since it last ran healthily
    restart_at: float = 0.0
    exit: str = ""
    reason: str = ""
    stopping: bool = False  # asked to stop while the others run on (the fallback)

    def died(self, now: float, exit: str, reason: str | None) -> float:
        """Record an unexpected exit; returns the delay before it is started again."""
        if now - self.started >= HEALTHY_AFTER:
            self.failures = 0
        self.pid = None
        self.failures += 1
        self.exit, self.reason = exit, reason or exit
        delay = restart_delay(self.failures)
        self.restart_at = now + delay
        return delay

    def recovered(self, now: float) -> bool:
        """True once, when a worker that had failed has run HEALTHY_AFTER seconds since."""
        if self.failures and self.pid is not None and now - self.started >= HEALTHY_AFTER:
            self.failures = 0
            return True
        return False

    def failure(self) -> Failure | None:
        if not self.failures:
            return None
        return {
            "worker": self.name,
            "index": self.index,
            "reason": self.reason,
            "exit": self.exit,
            "restarts": self.failures,
        }


@dataclass(frozen=True)
class Fallback:
    """What runs in place of the workers named `covers` while none of them runs."""

    covers: str
    run: Callable[[], None]


class Supervisor:
    """Forks the workers, restarts any that dies (with backoff, saying why), publishes what is
    wrong for /readyz, runs the fallback while no HTTP worker runs, stops all on SIGTERM.

    It stays single-threaded with no event loop, so forking from it is safe."""

    def __init__(
        self,
        work: Callable[[int], None],
        names: list[str],
        run_dir: RunDirectory,
        fallback: Fallback | None = None,
        failures: list[Failure] | None = None,
    ) -> None:
        self.slots = [Slot(i, name, functools.partial(work, i)) for i, name in enumerate(names)]
        self.fallback = fallback
        self.fallback_slot = (
            Slot(len(names), f"{fallback.covers}-fallback", fallback.run) if fallback else None
        )
        self.run_dir = run_dir
        self.static_failures = failures or []
        self.published: list[Failure] | None = None
        self.stop_deadline: float | None = None

    def _all_slots(self) -> list[Slot]:
        return self.slots + ([self.fallback_slot] if self.fallback_slot else [])

    def run(self, on_stop: Callable[[], object]) -> int:
        """Until SIGTERM/SIGINT. `on_stop` runs when the stop signal arrives (the supervisor
        closes its copies of the listening sockets there, so that the kernel stops accepting
        connections nobody will serve)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            self._publish()  # before any HTTP worker may look
            self._tend(time.monotonic())
            while self.stop_deadline is None or self._running():
                info = signal.sigtimedwait(SIGNALS, self._timeout())
                if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
                    self._stop(signal.Signals(info.si_signo), on_stop)
                self._kill_after_deadline()
                now = time.monotonic()
                for pid, code in _reap():
                    self._reaped(pid, code, now)
                if self.stop_deadline is None:
                    self._tend(now)
        finally:
            self.run_dir.remove()
        log.info("stopped")
        return 0

    def _running(self) -> list[int]:
        return [slot.pid for slot in self._all_slots() if slot.pid is not None]

    def _timeout(self) -> float:
        now = time.monotonic()
        if self.stop_deadline is not None:
            return max(0.05, self.stop_deadline - now)
        due = [slot.restart_at - now for slot in self.slots if slot.pid is None]
        return max(0.01, min([1.0, *due]))

    def _stop(self, signo: signal.Signals, on_stop: Callable[[], object]) -> None:
        if self.stop_deadline is None:
            log.info("stopping: signal=%s", signo.name)
            self.stop_deadline = time.monotonic() + KILL_AFTER
            on_stop()
        _signal_all(self._running(), signal.SIGTERM)

    def _kill_after_deadline(self) -> None:
        if self.stop_deadline is not None and time.monotonic() > self.stop_deadline:
            log.error("workers did not stop in %.0fs; killing them", KILL_AFTER)
            _signal_all(self._running(), signal.SIGKILL)

    def _tend(self, now: float) -> None:
        """Start the workers that are due, notice those that recovered, run or stop the
        fallback, and publish what is wrong if that changed."""
        for slot in self.slots:
            if slot.pid is None and now >= slot.restart_at:
                self._spawn(slot, now)
            elif slot.recovered(now):
                log.info("worker recovered index=%d name=%s", slot.index, slot.name)
        self._tend_fallback(now)
        self._publish()

    def _tend_fallback(self, now: float) -> None:
        slot = self.fallback_slot
        if self.fallback is None or slot is None:
            return
        covered = [s for s in self.slots if s.name == self.fallback.covers]
        needed = all(s.pid is None for s in covered)
        if needed and slot.pid is None and now >= slot.restart_at:
            self._spawn(slot, now)
        elif not needed and slot.pid is not None and not slot.stopping:
            slot.stopping = True
            _signal_all([slot.pid], signal.SIGTERM)

    def _publish(self) -> None:
        failures = [f for slot in self._all_slots() if (f := slot.failure())]
        failures += self.static_failures
        if failures != self.published:
            self.run_dir.publish(failures)
            self.published = failures

    def _spawn(self, slot: Slot, now: float) -> None:
        pid = os.fork()
        if pid == 0:
            # A worker failing as it failed last time leaves its traceback out: the supervisor's
            # line says why, once an attempt.
            self._child(slot, slot.reason if slot.failures else None)
        slot.pid, slot.started = pid, now
        log.info(
            "worker started index=%d pid=%d name=%s supervisor=%d",
            slot.index, pid, slot.name, os.getpid(),
        )  # fmt: skip

    def _child(self, slot: Slot, last_reason: str | None) -> NoReturn:
        """The forked worker: run, and on failure leave the reason for the supervisor."""
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        status = 0
        try:
            slot.run()
        except BaseException as error:
            status = 1
            reason = describe(error)
            self.run_dir.report(os.getpid(), reason)
            if reason != last_reason:
                log.exception("worker failed index=%d name=%s", slot.index, slot.name)
        finally:
            logging.shutdown()
            os._exit(status)

    def _reaped(self, pid: int, code: int, now: float) -> None:
        slot = next((s for s in self._all_slots() if s.pid == pid), None)
        reason = self.run_dir.take_report(pid)
        if slot is None:
            return
        if self.stop_deadline is not None or slot.stopping:
            # Stopped on purpose (the fallback once an HTTP worker is back): nothing is wrong.
            slot.pid, slot.stopping, slot.failures = None, False, 0
            return
        delay = slot.died(now, exit_description(code), reason)
        log.error(
            "worker exited unexpectedly index=%d pid=%d name=%s status=%r reason=%r restarts=%d"
            " restart_in=%gs",
            slot.index, pid, slot.name, slot.exit, slot.reason, slot.failures, delay,
        )  # fmt: skip


def _signal_all(pids: list[int], signo: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signo)


def _reap() -> list[tuple[int, int]]:
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped.append((pid, os.waitstatus_to_exitcode(status)))
    return reaped
