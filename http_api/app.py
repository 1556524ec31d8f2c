"""The HTTP app served by `mailgate serve` (uvicorn, on the HTTP port): operations endpoints
and the API routes, over the same store and operations as the SMTP path.

Routes are added here as the API grows; each route module parses its request and shapes its
answer, and calls operations in `storage/` (and `mta/` to submit mail) for the work.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import http_api.commands
import http_api.rest.controllers  # noqa: F401 - importing registers the /rest actions
from http_api import (
    api_php,
    metrics,
    relay_check,
    sender_domains,
    tracking,
    v1_email,
    v1_events,
    v1_suppressions,
    v1_webhooks,
)
from http_api.activation_links import ROUTE as ACTIVATE_ROUTE
from http_api.context import AppContext, Failures, GatewayFactory, HttpSettings, context
from http_api.openapi import routes as openapi_routes
from http_api.rate_limit import RateLimiter
from http_api.rest import accounts as rest_accounts
from http_api.rest import protocol as rest_protocol
from http_api.subscriber_activation import activate_page
from http_api.v1_auth import KeyCache
from mta.checked_http import HttpOptions
from mta.sms.transport import configured_transport
from storage.engine import Database
from storage.queue import QueueWriter

_PING = text("SELECT 1")


def _no_failures() -> list[dict[str, Any]]:
    return []


def create_app(
    settings: HttpSettings,
    make_gateway: GatewayFactory,
    supervisor_failures: Failures = _no_failures,
) -> Starlette:
    """The app on the configured database; connections open at start-up, close at shutdown.

    `make_gateway` configures the submission gateway on the app's store and queue writer (the
    caller knows the mta's settings; http_api does not). `supervisor_failures` gives what the
    process supervising this one knows to be wrong (workers that died, listeners not bound),
    which /readyz lists beside its own database check."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        limiter = RateLimiter(*settings.api_rate_limit, db)
        limiter.start()
        writer = QueueWriter(db)
        writer.start()
        sms = configured_transport(
            settings.sms_provider_url,
            settings.sms_provider_token,
            HttpOptions(settings.nameservers, settings.allow_private_targets),
        )
        app.state.context = AppContext(
            settings=settings,
            db=db,
            keys=KeyCache(db),
            rate_limiter=limiter,
            # The same submission path as SMTP: policy, headers, DKIM, group-committed queue.
            gateway=make_gateway(db, writer),
            sms_transport=sms,
            supervisor_failures=supervisor_failures,
        )
        try:
            yield
        finally:
            await sms.close()
            await limiter.close()
            await writer.close()
            await db.dispose()

    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/api.php", api_php.endpoint, methods=["GET", "POST"]),
        Route("/api/v1/sender.domains", sender_domains.endpoint, methods=["GET", "POST"]),
        Route("/api/v1/events", v1_events.endpoint, methods=["GET", "POST"]),
        Route("/api/v1/webhooks", v1_webhooks.endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/api/v1/suppressions", v1_suppressions.endpoint, methods=["GET", "DELETE"]),
        Route("/api/v1/email", v1_email.endpoint, methods=["POST"]),
        Route("/api/v1/inbound-relay-domain-check", relay_check.endpoint, methods=["GET", "POST"]),
        Route(
            "/rest/{path:path}", rest_protocol.endpoint, methods=["GET", "POST", "PUT", "DELETE"]
        ),
        Route("/t/o/{token}", tracking.open_pixel, methods=["GET"]),
        Route("/t/c/{token}", tracking.click, methods=["GET"]),
        Route("/u/{token}", tracking.unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", tracking.unsubscribe_post, methods=["POST"]),
        Route(ACTIVATE_ROUTE, activate_page, methods=["GET"]),
        Route("/account-activate/{token}", rest_accounts.activate, methods=["GET"]),
        Route("/openapi.json", openapi_routes.openapi_json, methods=["GET"]),
        Route("/docs", openapi_routes.reference_page, methods=["GET"]),
        Mount(openapi_routes.ASSETS_PATH, app=openapi_routes.assets),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(metrics.ObserveRequests)]
    )
    return app


async def healthz(request: Request) -> Response:
    """The process is up and serving HTTP."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the supervisor knows of nothing wrong and the database answers; otherwise 503
    with the list of what is wrong, so a load balancer stops sending and an operator sees why."""
    ctx = context(request)
    failures = [*ctx.supervisor_failures(), *await _database_failures(ctx.db)]
    if failures:
        return JSONResponse({"status": "unavailable", "failures": failures}, 503)
    return JSONResponse({"status": "ready"})


async def _database_failures(db: Database) -> list[dict[str, Any]]:
    try:
        await db.scalar(_PING)
    except Exception as error:  # any failure of the store means "not ready"
        # The type alone: a driver's message may carry the host or the user.
        return [{"check": "database", "reason": type(error).__name__}]
    return []
