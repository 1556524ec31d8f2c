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
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from dns_tools.routing import Router
from mailgate.config import Settings, env_name
from mailgate.tls import server_context
from mailgate.worker_health import (
    Failure,
    RunDirectory,
    describe,
    exit_description,
    serve_fallback,
    unbound_listener,
)
from mta.campaigns.scheduler import CampaignScheduler, SchedulerOptions
from mta.checked_http import HttpSender
from mta.notify.background_jobs import JobOptions, JobRunner
from mta.notify.webhook_dispatch import Dispatcher, DispatchOptions
from mta.outbound.delivery import DeliveryOptions, DeliveryWorker
from mta.outbound.sessions import SessionOptions, SessionPool
from mta.smtp.auth_throttle import AuthThrottle
from mta.smtp.server import Role, SmtpOptions, SubmissionHandler, close_sessions, protocol_factory
from mta.submission.submit import Gateway
from mta.tracking.rewrite import TrackingSettings
from storage.engine import Database
from storage.migrate import upgrade
from storage.queue import QueueWriter

log = logging.getLogger("mailgate.serve")

SHUTDOWN_GRACE = 30.0
KILL_AFTER = 60.0
# A worker that dies is started again after 1, 2, 4 ... seconds, at most a minute: one that
# cannot start (an import error, a bad setting) is retried ever more slowly, never in a tight
# loop. A worker that has run HEALTHY_AFTER seconds is healthy again: its failures are forgotten
# (and leave /readyz) and its next death starts the series from one second.
RESTART_BACKOFF = 1.0
RESTART_BACKOFF_MAX = 60.0
HEALTHY_AFTER = 10.0
SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}

# The setting that names each SMTP listener's port, for the line saying it cannot be bound.
PORT_SETTINGS = {
    Role.MX: "smtp_port",
    Role.SUBMISSION: "submission_ports",
    Role.SMTPS: "smtps_port",
}


# A worker process: its name (in logs and /readyz) and what it runs, given its index.
Process = tuple[str, Callable[[int], Coroutine[Any, Any, None]]]


@dataclass(frozen=True)
class Listener:
    role: Role
    port: int
    sock: socket.socket


def listener_ports(settings: Settings) -> list[tuple[Role, int]]:
    ports: list[tuple[Role, int]] = []
    if settings.smtp_port:
        ports.append((Role.MX, settings.smtp_port))
    ports.extend((Role.SUBMISSION, port) for port in settings.submission_ports)
    if settings.smtps_port:
        ports.append((Role.SMTPS, settings.smtps_port))
    return ports


def listen(settings: Settings, port: int) -> socket.socket:
    """A listening socket on the configured address; OSError when it cannot be had."""
    family = socket.AF_INET6 if ":" in settings.bind else socket.AF_INET
    sock = socket.create_server((settings.bind, port), family=family, backlog=1024)
    sock.setblocking(False)
    return sock


def bind_listeners(settings: Settings, failures: list[Failure]) -> list[Listener]:
    """Bind each configured SMTP port; a port that fails is logged, added to `failures` (for
    /readyz) and skipped."""
    listeners = []
    for role, port in listener_ports(settings):
        setting = PORT_SETTINGS[role]
        try:
            sock = listen(settings, port)
        except OSError as error:
            log.error(
                "listener failed role=%s port=%d setting=%s (%s) error=%r",
                role, port, setting, env_name(setting), error.strerror,
            )  # fmt: skip
            failures.append(unbound_listener(str(role), port, setting, error))
            continue
        log.info("listening role=%s address=%s port=%d", role, settings.bind, port)
        listeners.append(Listener(role, port, sock))
    return listeners


class HttpPortRefused(Exception):
    """The HTTP port cannot be bound and partial service is not allowed: serve must not run."""


def bind_http(settings: Settings, failures: list[Failure]) -> socket.socket | None:
    """The HTTP listener. One that cannot be bound stops `serve` (a gateway without its API is
    not ready), unless allow_partial_service says SMTP alone is worth serving."""
    port = settings.http_port
    if not port:
        return None
    try:
        sock = listen(settings, port)
    except OSError as error:
        where = f"listener failed role=http port={port} setting=http_port (MAILGATE_HTTP_PORT)"
        if not settings.allow_partial_service:
            log.error(
                "%s error=%r; serve exits: a gateway without its HTTP API is not ready (free the "
                "port, set another http_port, or set allow_partial_service = true, "
                "MAILGATE_ALLOW_PARTIAL_SERVICE, to serve SMTP without it)",
                where, error.strerror,
            )  # fmt: skip
            raise HttpPortRefused from error
        log.warning(
            "%s error=%r; serving SMTP without the HTTP API (allow_partial_service is true)",
            where, error.strerror,
        )  # fmt: skip
        failures.append(unbound_listener("http", port, "http_port", error))
        return None
    log.info("listening role=http address=%s port=%d", settings.bind, port)
    return sock


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
        *[("smtp", functools.partial(_worker, settings, listeners))] * settings.smtp_processes,
        *delivery_processes(settings, settings.delivery_processes),
        ("scheduler", functools.partial(_scheduler, settings)),
    ]
    if http is not None:
        web = functools.partial(_http_worker, settings, http, supervisor_failures=health.failures)
        processes += [("http", web)] * settings.http_processes
    fallback = Fallback("http", lambda: serve_fallback(http, health)) if http else None
    supervisor = Supervisor(*supervised(processes), run_dir, fallback, failures)
    return supervisor.run(on_stop=lambda: [sock.close() for sock in sockets])


def delivery_processes(settings: Settings, count: int) -> list[Process]:
    """`count` delivery workers and, when there is any, the webhook dispatcher: webhooks are
    called where mail is delivered (with delivery_processes = 0, `mailgate worker` calls
    them)."""
    delivery: list[Process] = [("delivery", functools.partial(_delivery_worker, settings))]
    hooks: list[Process] = [("webhooks", functools.partial(_webhook_dispatcher, settings))]
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


def run_in_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(main)
    else:
        uvloop.run(main)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signo in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signo, stop.set)
    return stop


@contextlib.asynccontextmanager
async def _process_database(settings: Settings) -> AsyncIterator[tuple[asyncio.Event, Database]]:
    """What a queue-working process (delivery, webhooks, scheduler) runs in: the stop (set on
    SIGTERM/SIGINT or when the supervisor is gone) and its own database engine, disposed of on
    the way out."""
    stop = _stop_on_signals()
    orphan_watch = asyncio.create_task(_stop_when_orphaned(stop))
    db = Database(settings.database_url)
    try:
        yield stop, db
    finally:
        orphan_watch.cancel()
        await db.dispose()


async def _delivery_worker(settings: Settings, index: int) -> None:
    async with _process_database(settings) as (stop, db):
        router = Router(settings.routes, settings.nameservers, port=settings.delivery_port)
        pool = SessionPool(SessionOptions(settings.hostname), settings.connection_idle_timeout)
        worker = DeliveryWorker(db, router, pool, delivery_options(settings))
        log.info("delivery worker ready index=%d name=%s", index, worker.name)
        await worker.run(stop)
    log.info("delivery worker stopped index=%d", index)


async def _webhook_dispatcher(settings: Settings, index: int) -> None:
    """A process of its own: webhook receivers, however slow or many, never share an event loop
    with SMTP sessions, and a dispatcher restarted by the supervisor leaves delivery running."""
    async with _process_database(settings) as (stop, db):
        dispatcher = Dispatcher(db, dispatch_options(settings))
        log.info("webhook dispatcher ready index=%d name=%s", index, dispatcher.name)
        await dispatcher.run(stop)
    log.info("webhook dispatcher stopped index=%d", index)


async def _scheduler(settings: Settings, index: int) -> None:
    """A process of its own in every `serve`, for the work the API starts: campaigns and
    background jobs (a list's field update, say) run where the API runs, whether or not this
    node delivers; queueing a large audience never shares an event loop with SMTP sessions or
    webhook calls."""
    async with _process_database(settings) as (stop, db):
        writer = QueueWriter(db)  # for campaign runs' messages
        writer.start()
        scheduler = CampaignScheduler(
            Gateway.configured(db, writer, settings),
            SchedulerOptions(batch=settings.campaign_batch),
            http=HttpSender(dispatch_options(settings).http()),
        )
        jobs = JobRunner(db, job_options(settings))
        log.info("campaign scheduler ready index=%d name=%s", index, scheduler.name)
        try:
            await asyncio.gather(scheduler.run(stop), jobs.run(stop))
        finally:
            await writer.close()
    log.info("campaign scheduler stopped index=%d", index)


def dispatch_options(settings: Settings) -> DispatchOptions:
    return DispatchOptions(
        retry_schedule=settings.webhook_retry_schedule,
        nameservers=settings.nameservers,
        allow_private=settings.allow_private_targets,
        lease=timedelta(seconds=settings.delivery_lease),
    )


def job_options(settings: Settings) -> JobOptions:
    """Background jobs' callbacks are retried on the webhooks' schedule."""
    options = dispatch_options(settings)
    return JobOptions(options.retry_schedule, options.lease, http=options.http())


async def _http_worker(
    settings: Settings,
    sock: socket.socket,
    index: int,
    *,
    supervisor_failures: Callable[[], list[Failure]],
) -> None:
    """The HTTP app under uvicorn on the supervisor's socket; uvicorn's own SIGTERM handling
    finishes the requests in flight before it exits. The app's lifespan is entered here rather
    than by uvicorn, so that an app that cannot start ends this worker with its own error (which
    the supervisor then logs and /readyz lists) instead of a quiet exit."""
    import uvicorn

    from mailgate.http_wiring import http_app

    app = http_app(settings, supervisor_failures)
    config = uvicorn.Config(
        app,
        log_config=None,  # ours (mailgate.logs), not uvicorn's
        # http_api.metrics writes the access line, without the query string: uvicorn's would
        # print it whole, and the documents allow API keys there.
        access_log=False,
        lifespan="off",  # entered below
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
        server_header=False,
    )
    server = uvicorn.Server(config)
    orphaned = asyncio.Event()
    orphan_watch = asyncio.create_task(_stop_when_orphaned(orphaned))
    orphaned_exit = asyncio.create_task(_exit_when(orphaned, server))
    try:
        async with app.router.lifespan_context(app):
            log.info("http worker ready index=%d", index)
            await server.serve(sockets=[sock])
    finally:
        orphan_watch.cancel()
        orphaned_exit.cancel()
    log.info("http worker stopped index=%d", index)


async def _exit_when(event: asyncio.Event, server: Any) -> None:
    await event.wait()
    server.should_exit = True


def delivery_options(settings: Settings) -> DeliveryOptions:
    return DeliveryOptions(
        hostname=settings.hostname,
        return_path_subdomain=settings.return_path_subdomain,
        retry_schedule=settings.retry_schedule,
        max_lifetime=settings.max_queue_lifetime,
        concurrency=settings.destination_concurrency,
        rate_per_minute=settings.destination_rate_limit,
        lease=timedelta(seconds=settings.delivery_lease),
        tracking_key=TrackingSettings.of(settings).key,
    )


async def _worker(settings: Settings, listeners: list[Listener], index: int) -> None:
    """An SMTP worker: serves the supervisor's listening sockets."""
    stop = _stop_on_signals()
    loop = asyncio.get_running_loop()
    orphan_watch = asyncio.create_task(_stop_when_orphaned(stop))

    db = Database(settings.database_url)
    writer = QueueWriter(db)
    writer.start()
    gateway = Gateway.configured(db, writer, settings)
    handler = SubmissionHandler(gateway, smtp_options(settings), auth_throttle(settings, db))
    tls = tls_context(settings)
    sessions: set = set()
    servers = []
    for listener in listeners:
        factory = protocol_factory(handler, listener.role, tls, sessions)
        server = await loop.create_server(
            factory, sock=listener.sock, ssl=tls if listener.role is Role.SMTPS else None
        )
        servers.append(server)
    log.info("worker ready index=%d listeners=%d", index, len(servers))

    await stop.wait()
    orphan_watch.cancel()
    for server in servers:
        server.close()
    await close_sessions(sessions, SHUTDOWN_GRACE)
    await writer.close()
    await db.dispose()
    log.info("worker stopped index=%d", index)


class StartError(Exception):
    """A worker cannot start for a reason the operator must fix; the message says what."""


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The SMTP workers' TLS context; files that cannot be loaded name themselves and their
    settings (ssl's own message can be as bare as "PEM lib")."""
    try:
        return server_context(settings.tls_cert, settings.tls_key)
    except OSError as error:  # ssl.SSLError is one
        raise StartError(
            f"cannot load the TLS certificate {settings.tls_cert} and key {settings.tls_key} "
            f"(tls_cert, MAILGATE_TLS_CERT; tls_key, MAILGATE_TLS_KEY): {describe(error)}"
        ) from error


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    """A worker whose supervisor died (SIGKILL) stops too instead of serving on alone."""
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 - no event exists for "my parent died"
        await asyncio.sleep(1.0)
    log.error("supervisor %d is gone; stopping", parent)
    stop.set()


def smtp_options(settings: Settings) -> SmtpOptions:
    return SmtpOptions(
        hostname=settings.hostname,
        timeout=settings.smtp_timeout,
        relay_networks=settings.relay_networks,
        allow_plaintext_auth_on_loopback=settings.allow_plaintext_auth_on_loopback,
    )


def auth_throttle(settings: Settings, db: Database) -> AuthThrottle:
    """The AUTH failure lockout, counted in the database every worker and node shares."""
    return AuthThrottle(
        db=db,
        limit=settings.auth_failure_limit,
        lockout=settings.auth_lockout_seconds,
        delay_step=settings.auth_failure_delay,
    )
