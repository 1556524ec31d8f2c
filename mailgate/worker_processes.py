"""What each worker process of `mailgate serve` runs, in its own event loop (uvloop) with its
own database engine: the SMTP workers (on the supervisor's listening sockets), the HTTP workers
(uvicorn), the delivery workers, the webhook dispatcher and the scheduler (campaigns and
background jobs). Each stops on SIGTERM or SIGINT, finishing what it holds, and stops too when
its supervisor is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dns_tools.routing import Router
from mailgate.config import Settings
from mailgate.listeners import Listener
from mailgate.tls import server_context
from mailgate.worker_health import Failure, describe
from mta.campaigns.scheduler import CampaignScheduler, SchedulerOptions
from mta.checked_http import HttpSender
from mta.notify.background_jobs import JobOptions, JobRunner
from mta.notify.webhook_dispatch import Dispatcher, DispatchOptions
from mta.outbound.delivery import DeliveryOptions, DeliveryWorker
from mta.outbound.sessions import SessionOptions, SessionPool
from mta.smtp.auth_throttle import AuthThrottle
from mta.smtp.server import (
    MailgateSMTP,
    Role,
    SmtpOptions,
    SubmissionHandler,
    close_sessions,
    protocol_factory,
)
from mta.submission.submit import Gateway
from mta.tracking.rewrite import TrackingSettings
from storage.engine import Database
from storage.queue import QueueWriter

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("mailgate.serve")  # one logger for all of `serve`, as operators read it

SHUTDOWN_GRACE = 30.0


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


async def delivery_worker(settings: Settings, index: int) -> None:
    async with _process_database(settings) as (stop, db):
        router = Router(settings.routes, settings.nameservers, port=settings.delivery_port)
        pool = SessionPool(SessionOptions(settings.hostname), settings.connection_idle_timeout)
        worker = DeliveryWorker(db, router, pool, delivery_options(settings))
        log.info("delivery worker ready index=%d name=%s", index, worker.name)
        await worker.run(stop)
    log.info("delivery worker stopped index=%d", index)


async def webhook_dispatcher(settings: Settings, index: int) -> None:
    """A process of its own: webhook receivers, however slow or many, never share an event loop
    with SMTP sessions, and a dispatcher restarted by the supervisor leaves delivery running."""
    async with _process_database(settings) as (stop, db):
        dispatcher = Dispatcher(db, dispatch_options(settings))
        log.info("webhook dispatcher ready index=%d name=%s", index, dispatcher.name)
        await dispatcher.run(stop)
    log.info("webhook dispatcher stopped index=%d", index)


async def scheduler(settings: Settings, index: int) -> None:
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


async def http_worker(
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


async def _exit_when(event: asyncio.Event, server: uvicorn.Server) -> None:
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


async def smtp_worker(settings: Settings, listeners: list[Listener], index: int) -> None:
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
    sessions: set[MailgateSMTP] = set()
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
