"""Who an /api/v1 request acts for, decided in one place for every route: a sender domain's key
(`Authorization: Bearer eg_live_...`, or `SenderAPIKey` in the query or body) or the admin key,
then the key's rate limit. A refusal is raised as V1Error, which http_api/v1_dispatch.py
answers. `POST /api/v1/sender.domains` also answers a request that brings no credential at all
from the trusted networks (`require_admin_or_trusted_network`): 001's example sends none, as a
PowerMTA pulling the list on its own box does.

Keys are looked up by their SHA-256 digest and the answers kept for one second (so are the relay
domains an MX asks about): the hot routes then cost no query per request, and a key deleted or a
domain removed stops working within a second. No plain key is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cachetools import TTLCache
from starlette.requests import Request

from http_api.context import context
from http_api.networks import client_host, from_trusted_network
from http_api.rate_limit import limit_reached
from http_api.v1_envelope import V1Error
from mta.submission.submit import sender_for_domain
from storage.accounts import admin_key_matches, domain_for_key
from storage.domains import is_inbound_relay_domain
from storage.engine import Database
from storage.models import UserStatus
from storage.tokens import token_hash

CACHE_SECONDS = 1.0
T = TypeVar("T")


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _cache() -> TTLCache[str, asyncio.Future[T]]:
    return TTLCache(maxsize=50_000, ttl=CACHE_SECONDS)


@dataclass
class KeyCache:
    """Short-lived answers about keys (by digest) and relay domains; one per worker process."""

    db: Database
    domains: TTLCache[str, asyncio.Future[int | None]] = field(default_factory=_cache)
    admin: TTLCache[str, asyncio.Future[bool]] = field(default_factory=_cache)
    relay: TTLCache[str, asyncio.Future[bool]] = field(default_factory=_cache)

    async def domain_for(self, key: str) -> int | None:
        return await _remembered(
            self.domains, token_hash(key), lambda: domain_for_key(self.db, key)
        )

    async def is_admin(self, key: str) -> bool:
        if not key:
            return False
        digest = token_hash(key)
        return await _remembered(self.admin, digest, lambda: admin_key_matches(self.db, key))

    async def is_relay_domain(self, name: str) -> bool:
        return await _remembered(self.relay, name, lambda: is_inbound_relay_domain(self.db, name))


async def _remembered(
    cache: TTLCache[str, asyncio.Future[T]], name: str, load: Callable[[], Awaitable[T]]
) -> T:
    """The cached answer for `name`, loading it once however many requests miss at the same
    moment: they all await the one lookup (an expiry under load is otherwise a burst of identical
    queries, which on PostgreSQL queue for the pool and showed as an 80 ms p99)."""
    found = cache.get(name)  # a future, never None
    if found is None:
        found = cache[name] = asyncio.ensure_future(load())
    try:
        return await asyncio.shield(found)
    except Exception:
        if cache.get(name) is found:
            del cache[name]  # a failed lookup is not remembered
        raise


async def owner_active(request: Request, domain_id: int) -> bool:
    """Whether the key's domain still belongs to an active account (the submission path's sender
    lookup, kept for a second): a deactivated account's keys read and change nothing."""
    sender = await sender_for_domain(context(request).gateway, domain_id)
    return sender is not None and sender.user_status is UserStatus.ACTIVE


def check_rate(request: Request, key: str) -> None:
    """Count the request against `key`'s limit; V1Error 429 beyond it."""
    wait = context(request).rate_limiter.retry_after(key)
    if wait is not None:
        raise limit_reached(wait)


MISSING_KEY = (1, "Missing SenderAPIKey")
INVALID_KEY = (13, "Invalid SenderAPIKey")


def sender_key(request: Request, params: dict[str, Any]) -> str:
    return bearer_token(request) or str(params.get("senderapikey") or "")


async def key_domain(
    request: Request, params: dict[str, Any], missing: tuple[int, str] = MISSING_KEY
) -> int:
    """The sender domain the request's key belongs to, counted against its rate limit; V1Error
    `missing` without a key (1 on most routes; webhooks answer 13, their 1 meaning a missing
    WebhookID), 13 for a key that is not a domain key, 429 beyond its rate limit."""
    key = sender_key(request, params)
    if not key:
        raise V1Error(*missing, 401)
    domain_id = await context(request).keys.domain_for(key)
    if domain_id is None:
        raise V1Error(*INVALID_KEY, 401)
    check_rate(request, key)
    return int(domain_id)


def _admin_key(request: Request, params: dict[str, Any]) -> str:
    return bearer_token(request) or str(params.get("adminapikey") or "")


async def require_admin(
    request: Request, key: str, refusal: V1Error, rate_limited: bool = True
) -> None:
    """`key` must be the admin key (else `refusal`), within its rate limit if `rate_limited`."""
    if not await context(request).keys.is_admin(key):
        raise refusal
    if rate_limited:
        check_rate(request, key)


async def require_admin_or_trusted_network(
    request: Request, params: dict[str, Any], refusal: V1Error
) -> None:
    """The admin key (Bearer, or `AdminAPIKey`); or a request with no credential at all (no
    Authorization header, no `AdminAPIKey`) from the trusted networks (`trusted_networks`,
    loopback by default), counted against a limit of its own per client address. A credential
    that is not the admin key is refused wherever it comes from."""
    if "authorization" in request.headers or _admin_key(request, params):
        await require_admin(request, _admin_key(request, params), refusal)
        return
    if not from_trusted_network(request):
        raise refusal
    check_rate(request, f"trusted-network:{client_host(request)}")
