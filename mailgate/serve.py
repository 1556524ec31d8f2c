"""`mailgate serve`: a supervisor process and its worker processes.

The supervisor binds every listening socket itself (so a port that cannot be bound is reported
once and the others still serve, and no second instance can silently share a port), then forks
workers that serve those same sockets, and restarts a worker that dies: after a delay that
doubles while it keeps dying (a worker that cannot start is not restarted in a tight loop), with
one log line per death saying why (its exit status and the error it ended with). What is wrong
(failed workers, unbound listeners) is published in the run directory (mailgate/worker_health.py)
for /readyz; while no HTTP worker runs, a small fallback process answers on the HTTP port with
that list. An HTTP port that cannot be bound stops `serve` unless allow_partial_service is set.
The supervisor stays single-threaded with no event loop, so forking from it is safe. Each worker
runs its own event loop (uvloop), its own database engine and group-commit queue writer: several
workers use both cores.

Beside the SMTP and HTTP workers run:
- `delivery_processes` delivery workers (`delivery`, mta/outbound/delivery.py), which claim due
  recipients from the queue and send them;
- when there is any delivery worker, one webhook dispatcher (`webhooks`,
  mta/notify/webhook_dispatch.py);
- always, one scheduler (`scheduler`) for the work the API starts: the campaign scheduler
  (mta/campaigns/scheduler.py), which starts due campaigns and queues their recipients, and the
  background job runner (mta/notify/background_jobs.py). Both are started through the API that
  `serve` runs, so they run whether or not this node delivers (several schedulers, on one node
  or many, share the work through their claims).
The delivery workers, the webhook dispatcher and the background job runner are one machine
(mta/worker/leased_worker.py). `mailgate worker` runs the delivery workers and the dispatcher alone.

SIGTERM or SIGINT: the supervisor passes SIGTERM to the workers; each SMTP worker stops
accepting, answers idle sessions with 421, lets sessions inside DATA finish, commits what is
queued, and exits; each delivery worker (and the dispatcher, and the job runner) claims nothing
more, finishes the transactions in flight and records their outcomes; the campaign scheduler
finishes the batch it is queueing.

This module builds the process list; the sockets are bound in mailgate/listeners.py, the
processes kept running by mailgate/supervisor.py, and what each runs is in
mailgate/worker_processes.py.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from mailgate.config import Settings
from mailgate.listeners import HttpPortRefused, bind_http, bind_listeners
from mailgate.supervisor import Fallback, Supervisor
from mailgate.worker_health import Failure, RunDirectory, serve_fallback
from mailgate.worker_processes import (
    delivery_worker,
    http_worker,
    run_in_loop,
    scheduler,
    smtp_worker,
    webhook_dispatcher,
)
from storage.migrate import upgrade

log = logging.getLogger("mailgate.serve")

# A worker process: its name (in logs and /readyz) and what it runs, given its index.
Process = tuple[str, Callable[[int], Coroutine[Any, Any, None]]]


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    upgrade(settings.database_url)
    failures: list[Failure] = []
    try:
        http = bind_http(settings, failures)
    except HttpPortRefused:
        return 1
    listeners = bind_listeners(settings, failures)
    if not listeners:
        log.error("no SMTP listener could be bound; exiting")
        if http is not None:
            http.close()
        return 1
    sockets = [listener.sock for listener in listeners] + ([http] if http else [])
    run_dir = RunDirectory.create(settings.data_dir)
    health = run_dir.health
    processes: list[Process] = [
        *[("smtp", functools.partial(smtp_worker, settings, listeners))] * settings.smtp_processes,
        *delivery_processes(settings, settings.delivery_processes),
        ("scheduler", functools.partial(scheduler, settings)),
    ]
    if http is not None:
        web = functools.partial(http_worker, settings, http, supervisor_failures=health.failures)
        processes += [("http", web)] * settings.http_processes
    fallback = Fallback("http", lambda: serve_fallback(http, health)) if http else None
    supervisor = Supervisor(*supervised(processes), run_dir, fallback, failures)

    def close_sockets() -> None:
        for sock in sockets:
            sock.close()

    return supervisor.run(on_stop=close_sockets)


def delivery_processes(settings: Settings, count: int) -> list[Process]:
    """`count` delivery workers and, when there is any, the webhook dispatcher: webhooks are
    called where mail is delivered (with delivery_processes = 0, `mailgate worker` calls
    them)."""
    delivery: list[Process] = [("delivery", functools.partial(delivery_worker, settings))]
    hooks: list[Process] = [("webhooks", functools.partial(webhook_dispatcher, settings))]
    return delivery * count + (hooks if count else [])


def supervised(processes: list[Process]) -> tuple[Callable[[int], None], list[str]]:
    """The supervisor's `work` (run process number `index` in an event loop) and names."""

    def work(index: int) -> None:
        run_in_loop(processes[index][1](index))

    return work, [name for name, _ in processes]


def deliver_only(settings: Settings) -> int:
    """`mailgate worker`: delivery workers and the webhook dispatcher alone, to scale delivery
    apart from ingest."""
    upgrade(settings.database_url)
    processes = delivery_processes(settings, max(1, settings.delivery_processes))
    supervisor = Supervisor(*supervised(processes), RunDirectory.create(settings.data_dir))
    return supervisor.run(on_stop=lambda: None)
