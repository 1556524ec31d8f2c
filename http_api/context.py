"""What every HTTP handler works with, typed and built once: the settings the HTTP surfaces read
and the parts the app's lifespan opens (store, key cache, rate limiter, gateway, SMS transport).

`mailgate/http_wiring.py` builds `HttpSettings` from its own settings; http_api imports nothing
from `mailgate/`, so this module names only the values the handlers here read. Handlers reach the
context through `context(request)`, never through `request.app.state` attributes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from http_api.retry_after import RetryAfter
from mta.sms.transport import SmsTransport
from mta.submission.submit import Gateway
from storage.engine import Database
from storage.queue import QueueWriter

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What the supervising process knows to be wrong (dead workers, unbound listeners), for /readyz.
Failures = Callable[[], list[dict[str, Any]]]

# How the app gets its submission gateway once its store and queue writer are open: the gateway
# is configured from settings that are the mta's business, not http_api's.
GatewayFactory = Callable[[Database, QueueWriter], Gateway]


@dataclass(frozen=True)
class HttpSettings:
    """The settings the HTTP app reads, and only those (names as in `mailgate.config.Settings`)."""

    database_url: str
    hostname: str
    public_url: str
    conversion_key: bytes | None
    nameservers: tuple[tuple[str, int], ...]
    allow_private_targets: bool
    trusted_networks: tuple[IPNetwork, ...]
    api_rate_limit: tuple[int, int]
    max_message_size: int
    soft_bounce_limit: int
    return_path_subdomain: str
    track_prefix: str
    smtp_port: int | None
    submission_ports: tuple[int, ...]
    smtp_ports: tuple[int, ...]  # the ports shown with SMTP credentials
    spamd_address: tuple[str, int]
    spam_test_daily_limit: int
    sms_provider_url: str
    sms_provider_token: str

    def __repr__(self) -> str:
        return f"HttpSettings(hostname={self.hostname!r}, public_url={self.public_url!r})"


class ApiKeys(Protocol):
    """What the key lookups answer (http_api.v1_auth.KeyCache); a protocol, so this shared
    module names no surface's module."""

    async def domain_for(self, key: str) -> int | None: ...
    async def is_admin(self, key: str) -> bool: ...
    async def is_relay_domain(self, name: str) -> bool: ...


class RateLimits(Protocol):
    """What the per-key rate limiter answers (http_api.rate_limit.RateLimiter)."""

    def retry_after(self, key: str) -> RetryAfter | None: ...


@dataclass(frozen=True)
class AppContext:
    """The app's wiring, attached once at start-up."""

    settings: HttpSettings
    db: Database
    keys: ApiKeys
    rate_limiter: RateLimits
    gateway: Gateway
    sms_transport: SmsTransport
    supervisor_failures: Failures


def context(request: Request) -> AppContext:
    """The context of the app serving `request`."""
    ctx: AppContext = request.app.state.context
    return ctx
