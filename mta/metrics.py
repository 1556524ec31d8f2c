"""The gateway's counters, kept with prometheus-client and served at `/metrics`.

`mailgate serve` runs several processes; it sets PROMETHEUS_MULTIPROC_DIR before any of them
imports this module, so each process writes its samples to a file there and the HTTP worker
sums them (prometheus-client's multiprocess mode). Without it (tests importing the modules, a
lone `mailgate worker`) the counters simply live in the process.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from mta.replies import own_enhanced_code

SMTP_SESSIONS = Counter("mailgate_smtp_sessions", "SMTP connections accepted", ["role"])
SMTP_ACCEPTED = Counter(
    "mailgate_smtp_messages_accepted", "Messages queued from SMTP", ["direction"]
)
SMTP_REFUSED = Counter(
    "mailgate_smtp_refusals",
    "SMTP commands refused, by stage (the command), enhanced code and reason",
    ["stage", "code", "reason"],
)
SMTP_AUTH_FAILURES = Counter(
    "mailgate_smtp_auth_failures", "SMTP AUTH attempts refused for wrong credentials"
)
DELIVERY_OUTCOMES = Counter(
    "mailgate_delivery_outcomes", "Delivery attempts, by outcome", ["status"]
)
DELIVERY_LATENCY = Histogram(
    "mailgate_delivery_latency_seconds",
    "Seconds from queueing to delivery",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
)
WEBHOOK_CALLS = Counter(
    "mailgate_webhook_calls",
    "Webhook calls, by result (delivered, retry, dead, gone: the endpoint answered 410)",
    ["result"],
)
HTTP_REQUESTS = Counter(
    "mailgate_http_requests", "HTTP requests, by route and status", ["route", "status"]
)


def refused(stage: str, reply: str, reason: str) -> None:
    SMTP_REFUSED.labels(stage, own_enhanced_code(reply) or reply[:3], reason).inc()
