"""`mailgate serve`: a supervisor process and its worker processes.

The supervisor binds every listening socket itself (so a port that cannot be bound is reported
once and the others still serve, and no second instance can silently share a port), then forks
workers that serve those same sockets, and restarts a worker that dies. It stays single-threaded
with no event loop, so forking from it is safe. Each worker runs its own event loop (uvloop), its
own database engine and group-commit queue writer: several workers use both cores.

Beside the SMTP workers run `delivery_processes` delivery workers (mta/delivery.py), which
claim due recipients from the queue and send them, and (when there is any delivery worker)
one webhook dispatcher process (mta/webhook_dispatch.py), which also runs the background jobs
(mta/background_jobs.py); `mailgate worker` runs those alone.

SIGTERM or SIGINT: the supervisor passes SIGTERM to the workers; each SMTP worker stops
accepting, answers idle sessions with 421, lets sessions inside DATA finish, commits what is
queued, and exits; each delivery worker claims nothing more, finishes the transactions in flight
and records their outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dns_tools.routing import Router
from mailgate.config import Settings
from mailgate.tls import server_context
from mta.auth_throttle import AuthThrottle
from mta.background_jobs import JobOptions, JobRunner
from mta.campaign_scheduler import CampaignScheduler, SchedulerOptions
from mta.checked_http import HttpSender
from mta.delivery import DeliveryOptions, DeliveryWorker
from mta.outbound_sessions import SessionOptions, SessionPool
from mta.server import Role, SmtpOptions, SubmissionHandler, close_sessions, protocol_factory
from mta.submission import Gateway
from mta.tracking import TrackingSettings
from mta.webhook_dispatch import Dispatcher, DispatchOptions
from storage.engine import Database
from storage.migrate import upgrade
from storage.queue import QueueWriter

log = logging.getLogger("mailgate.serve")

SHUTDOWN_GRACE = 30.0
KILL_AFTER = 60.0
RESTART_BACKOFF = 1.0


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


def bind(settings: Settings, role: str, port: int) -> socket.socket | None:
    """A listening socket on the configured address, or None (logged) when it cannot be had."""
    try:
        family = socket.AF_INET6 if ":" in settings.bind else socket.AF_INET
        sock = socket.create_server((settings.bind, port), family=family, backlog=1024)
    except OSError as error:
        log.error("listener failed role=%s port=%d error=%r", role, port, error.strerror)
        return None
    sock.setblocking(False)
    log.info("listening role=%s address=%s port=%d", role, settings.bind, port)
    return sock


def bind_listeners(settings: Settings) -> list[Listener]:
    """Bind each configured SMTP port; a port that fails is logged and skipped."""
    listeners = []
    for role, port in listener_ports(settings):
        sock = bind(settings, str(role), port)
        if sock is not None:
            listeners.append(Listener(role, port, sock))
    return listeners


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status."""
    upgrade(settings.database_url)
    listeners = bind_listeners(settings)
    if not listeners:
        log.error("no SMTP listener could be bound; exiting")
        return 1
    http = bind(settings, "http", settings.http_port) if settings.http_port else None
    smtp, delivery = settings.smtp_processes, settings.delivery_processes
    web = settings.http_processes if http else 0
    # Webhooks are called where mail is delivered: with no delivery process here
    # (delivery_processes = 0), `mailgate worker` calls them.
    hooks = 1 if delivery else 0
    sockets = [listener.sock for listener in listeners] + ([http] if http else [])

    def work(index: int) -> None:
        if index < smtp:
            run_in_loop(_worker(settings, listeners, index))
        elif index < smtp + delivery:
            run_in_loop(_delivery_worker(settings, index))
        elif index < smtp + delivery + hooks:
            run_in_loop(_webhook_dispatcher(settings, index))
        else:
            assert http is not None
            run_in_loop(_http_worker(settings, http, index))

    return supervise(
        work,
        smtp + delivery + hooks + web,
        on_stop=lambda: [sock.close() for sock in sockets],
    )


def deliver_only(settings: Settings) -> int:
    """`mailgate worker`: delivery workers and the webhook dispatcher alone, to scale delivery
    apart from ingest."""
    upgrade(settings.database_url)
    delivery = max(1, settings.delivery_processes)

    def work(index: int) -> None:
        if index < delivery:
            run_in_loop(_delivery_worker(settings, index))
        else:
            run_in_loop(_webhook_dispatcher(settings, index))

    return supervise(work, delivery + 1, on_stop=lambda: None)


def supervise(work: Callable[[int], None], count: int, on_stop: Callable[[], object]) -> int:
    """Fork `count` workers running `work(index)`, restart any that dies, stop them on SIGTERM.

    `on_stop` runs when the stop signal arrives (the supervisor closes its copies of the
    listening sockets there, so that the kernel stops accepting connections nobody will serve).
    """
    signals = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    parent = os.getpid()
    children: dict[int, int] = {}

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
            status = 0
            try:
                work(index)
            except BaseException:
                log.exception("worker %d failed", index)
                status = 1
            finally:
                logging.shutdown()
                os._exit(status)
        children[pid] = index
        log.info("worker started index=%d pid=%d supervisor=%d", index, pid, parent)

    for index in range(count):
        spawn(index)
    stop_deadline: float | None = None
    while children:
        timeout = 1.0 if stop_deadline is None else max(0.05, stop_deadline - time.monotonic())
        info = signal.sigtimedwait(signals, timeout)
        if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
            if stop_deadline is None:
                log.info("stopping: signal=%s", signal.Signals(info.si_signo).name)
                stop_deadline = time.monotonic() + KILL_AFTER
                on_stop()
            _signal_all(children, signal.SIGTERM)
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            log.error("workers did not stop in %.0fs; killing them", KILL_AFTER)
            _signal_all(children, signal.SIGKILL)
        for pid, status in _reap():
            index = children.pop(pid, None)
            if index is None or stop_deadline is not None:
                continue
            log.error("worker exited unexpectedly index=%d pid=%d status=%d", index, pid, status)
            time.sleep(RESTART_BACKOFF)
            spawn(index)
    log.info("stopped")
    return 0


def _signal_all(children: dict[int, int], signo: int) -> None:
    for pid in children:
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


async def _delivery_worker(settings: Settings, index: int) -> None:
    stop = _stop_on_signals()
    orphan_watch = asyncio.create_task(_stop_when_orphaned(stop))
    db = Database(settings.database_url)
    router = Router(settings.routes, settings.nameservers, port=settings.delivery_port)
    pool = SessionPool(SessionOptions(settings.hostname), settings.connection_idle_timeout)
    worker = DeliveryWorker(db, router, pool, delivery_options(settings))
    log.info("delivery worker ready index=%d name=%s", index, worker.name)
    try:
        await worker.run(stop)
    finally:
        orphan_watch.cancel()
        await db.dispose()
    log.info("delivery worker stopped index=%d", index)


async def _webhook_dispatcher(settings: Settings, index: int) -> None:
    """A process of its own: webhook receivers, however slow or many, never share an event loop
    with SMTP sessions, and a dispatcher restarted by the supervisor leaves delivery running.
    Background jobs and the campaign scheduler run here too."""
    stop = _stop_on_signals()
    orphan_watch = asyncio.create_task(_stop_when_orphaned(stop))
    db = Database(settings.database_url)
    dispatcher = Dispatcher(db, dispatch_options(settings))
    jobs = JobRunner(db, job_options(settings))
    writer = QueueWriter(db)  # for campaign runs' messages
    writer.start()
    campaigns = CampaignScheduler(
        Gateway.configured(db, writer, settings),
        SchedulerOptions(batch=settings.campaign_batch),
        http=HttpSender(dispatch_options(settings).http()),
    )
    log.info("webhook dispatcher ready index=%d name=%s", index, dispatcher.name)
    try:
        await asyncio.gather(dispatcher.run(stop), jobs.run(stop), campaigns.run(stop))
    finally:
        orphan_watch.cancel()
        await writer.close()
        await db.dispose()
    log.info("webhook dispatcher stopped index=%d", index)


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


async def _http_worker(settings: Settings, sock: socket.socket, index: int) -> None:
    """The HTTP app under uvicorn on the supervisor's socket; uvicorn's own SIGTERM handling
    finishes the requests in flight before it exits."""
    import uvicorn

    from http_api.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        log_config=None,  # ours (mailgate.logs), not uvicorn's
        lifespan="on",
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
        server_header=False,
    )
    server = uvicorn.Server(config)
    orphaned = asyncio.Event()
    orphan_watch = asyncio.create_task(_stop_when_orphaned(orphaned))
    orphaned_exit = asyncio.create_task(_exit_when(orphaned, server))
    log.info("http worker ready index=%d", index)
    try:
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
    stop = _stop_on_signals()
    loop = asyncio.get_running_loop()
    orphan_watch = asyncio.create_task(_stop_when_orphaned(stop))

    db = Database(settings.database_url)
    writer = QueueWriter(db)
    writer.start()
    gateway = Gateway.configured(db, writer, settings)
    handler = SubmissionHandler(gateway, smtp_options(settings), auth_throttle(settings))
    tls = server_context(settings.tls_cert, settings.tls_key)
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
        max_message_size=settings.max_message_size,
        max_recipients=settings.max_recipients,
        timeout=settings.smtp_timeout,
        relay_networks=settings.relay_networks,
        allow_plaintext_auth_on_loopback=settings.allow_plaintext_auth_on_loopback,
    )


def auth_throttle(settings: Settings) -> AuthThrottle:
    return AuthThrottle(
        limit=settings.auth_failure_limit,
        lockout=settings.auth_lockout_seconds,
        delay_step=settings.auth_failure_delay,
    )
