"""`/metrics` in the Prometheus text format: the counters of every `mailgate serve` process
(prometheus-client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set), the queue depth
and the age of its oldest due recipient read from the database at scrape time, and the
middleware that counts every HTTP request by route and writes the access log (with the error
code of an error answer, `ErrorAnswer`)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY
from sqlalchemy import func, select, union_all
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from http_api.context import context
from mta.metrics import HTTP_REQUESTS
from storage.engine import Database
from storage.models import Delivery, utcnow
from storage.outbound import PENDING

_QUEUE_DEPTH = (
    select(Delivery.status, func.count())
    .where(Delivery.status.in_(PENDING))
    .group_by(Delivery.status)
)
# The earliest next attempt of each pending status is the first entry of ix_deliveries_due
# (status, next_attempt_at) for that status: one index lookup each, whatever the queue's size.
_EARLIEST = union_all(
    *(
        select(func.min(Delivery.next_attempt_at).label("due")).where(Delivery.status == status)
        for status in PENDING
    )
).subquery()
_OLDEST_DUE = select(func.min(_EARLIEST.c.due))


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        # prometheus_client is typed, but leaves this constructor unannotated
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


async def endpoint(request: Request) -> Response:
    db: Database = context(request).db
    depth = {str(status): count for status, count in await db.rows(_QUEUE_DEPTH)}
    oldest_due: datetime | None = await db.scalar(_OLDEST_DUE)
    lines = [
        "# HELP mailgate_queue_recipients Recipients waiting in the queue, by status",
        "# TYPE mailgate_queue_recipients gauge",
        *(
            f'mailgate_queue_recipients{{status="{status}"}} {depth.get(str(status), 0)}'
            for status in PENDING
        ),
        "# HELP mailgate_queue_oldest_due_seconds Seconds the longest-waiting due recipient has"
        " been due (0: none is due)",
        "# TYPE mailgate_queue_oldest_due_seconds gauge",
        f"mailgate_queue_oldest_due_seconds {_seconds_due(oldest_due):.3f}",
    ]
    body = generate_latest(_registry()) + ("\n".join(lines) + "\n").encode()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _seconds_due(next_attempt: datetime | None) -> float:
    """How long ago `next_attempt` came; 0 when it has not come yet (or there is none)."""
    if next_attempt is None:
        return 0.0
    return max(0.0, (utcnow() - next_attempt).total_seconds())


access_log = logging.getLogger("mailgate.http")


def note(request: Request, **fields: str) -> None:
    """Fields a handler adds to its request's access-log line (the message id it queued, say)."""
    _note(request.scope, fields)


def _note(scope: Scope, fields: Mapping[str, str]) -> None:
    """The fields live in the request's state (`scope["state"]`), which the middleware reads."""
    state = scope.setdefault("state", {})
    state["log_fields"] = {**state.get("log_fields", {}), **fields}


class ErrorAnswer(JSONResponse):
    """An API's documented error answer: /api.php's ErrorCode, /api/v1's and /rest's error
    codes (`codes`: one, or a list). Once sent, its codes are on the request's access-log
    line as `error=`: the line names the error without anyone reading the body."""

    def __init__(
        self,
        content: Any,
        status_code: int,
        codes: object,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, status_code, headers)
        listed = codes if isinstance(codes, list | tuple) else [codes]
        self.codes = ",".join(str(code) for code in listed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _note(scope, {"error": self.codes})
        await super().__call__(scope, receive, send)


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
