"""`/metrics` in the Prometheus text format: the counters of every `mailgate serve` process
(prometheus-client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set), the queue depth
read from the database at scrape time, and the middleware that counts every HTTP request by
route and writes the access log."""

from __future__ import annotations

import logging
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mta.metrics import HTTP_REQUESTS
from storage.engine import Database
from storage.models import Delivery
from storage.outbound import PENDING

_QUEUE_DEPTH = (
    select(Delivery.status, func.count())
    .where(Delivery.status.in_(PENDING))
    .group_by(Delivery.status)
)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


async def endpoint(request: Request) -> Response:
    db: Database = request.app.state.db
    depth = {str(status): count for status, count in await db.rows(_QUEUE_DEPTH)}
    lines = [
        "# HELP mailgate_queue_recipients Recipients waiting in the queue, by status",
        "# TYPE mailgate_queue_recipients gauge",
        *(
            f'mailgate_queue_recipients{{status="{status}"}} {depth.get(str(status), 0)}'
            for status in PENDING
        ),
    ]
    body = generate_latest(_registry()) + ("\n".join(lines) + "\n").encode()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


access_log = logging.getLogger("mailgate.http")


def note(request: Request, **fields: str) -> None:
    """Fields a handler adds to its request's access-log line (the message id it queued, say)."""
    request.state.log_fields = {**getattr(request.state, "log_fields", {}), **fields}


class ObserveRequests:
    """Counts each request under its route's path template (never the raw path, whose ids
    would make the label set grow without bound) and logs one access line per request: method,
    path (never the query string, where a key may travel), status, time, client, and what the
    handler noted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            HTTP_REQUESTS.labels(_route(scope), str(status)).inc()
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, status, time.perf_counter() - started)


def _log_access(scope: Scope, status: int, seconds: float) -> None:
    client = scope.get("client") or ("", 0)
    noted = (scope.get("state") or {}).get("log_fields") or {}
    extra = "".join(f" {name}={value}" for name, value in noted.items())
    access_log.info(
        "http method=%s path=%s status=%d ms=%.1f client=%s%s",
        scope["method"], scope["path"], status, seconds * 1000, client[0], extra,
    )  # fmt: skip


def _route(scope: Scope) -> str:
    for route in scope["app"].routes if "app" in scope else ():
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "other"))
    return "unmatched"
