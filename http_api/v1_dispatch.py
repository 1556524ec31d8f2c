"""/api/v1's one way in and one way out. Each route declares a V1Route: its handler, who may
call it (`Auth`), and how large a body it takes; the dispatcher does the rest in order:

1. read the parameters (query, JSON or form) with http_api/params.py: SMALL_BODY (64 KB) until a
   key is known, then the route's `body_limit` (the key is looked for in the headers, the query
   and the body's first 64 KB: `Authorization: Bearer`, `SenderAPIKey`, `AdminAPIKey`);
2. authenticate and count the request against its key's rate limit (http_api/v1_auth.py);
   for a sender key, the key's account must be active (`inactive` answers otherwise);
3. run the handler, which returns a Response or a JSON-able dict, or raises V1Error;
4. answer every refusal in the one envelope (http_api/v1_envelope.py), and log any other
   exception with its traceback, answering 500 {"Errors": [{"Code": 500, ...}]}.

A route whose caller decides its own refusals after the key (POST /api/v1/email checks the
sender domain's account with the submission policy) sets `inactive=None`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, overload

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from http_api.context import HttpSettings, context
from http_api.params import (
    MAX_ID,
    SMALL_BODY,
    BadRequestBody,
    BodyTooLarge,
    read_params,
    whole_number,
)
from http_api.v1_auth import (
    MISSING_KEY,
    bearer_token,
    key_domain,
    owner_active,
    require_admin,
    require_admin_or_trusted_network,
)
from http_api.v1_envelope import V1Error
from storage.engine import Database

log = logging.getLogger("mailgate.api")

INTERNAL_ERROR = V1Error(500, "Internal server error", 500)
ADMIN_REFUSED = V1Error(1, "Authentication failed. Invalid admin API key.", 403)


class Auth(enum.Enum):
    SENDER_KEY = "sender key"  # a sender domain's key: Bearer, or SenderAPIKey
    ADMIN_BEARER = "admin bearer"  # the admin key as a Bearer token only, never rate limited
    ADMIN_OR_TRUSTED_NETWORK = "admin or trusted network"  # see require_admin_or_trusted_network


@dataclass(frozen=True)
class V1Call:
    """One authenticated request: its parameters (lower-cased names) and, for a sender key,
    the key's domain."""

    request: Request
    db: Database
    params: dict[str, Any]
    domain_id: int | None

    @property
    def domain(self) -> int:
        """The key's domain, on a route with Auth.SENDER_KEY."""
        if self.domain_id is None:
            raise TypeError("an admin route's request has no sender domain")
        return self.domain_id

    @overload
    def number(
        self, name: str, default: int, code: int, low: int = 0, high: int = MAX_ID
    ) -> int: ...

    @overload
    def number(
        self, name: str, default: None, code: int, low: int = 0, high: int = MAX_ID
    ) -> int | None: ...

    def number(
        self, name: str, default: int | None, code: int, low: int = 0, high: int = MAX_ID
    ) -> int | None:
        """A whole-number parameter within low..high, `default` when absent or empty;
        V1Error(code) for anything else (StartFrom, RetrieveCount, dates as seconds)."""
        raw = self.params.get(name.lower())
        if raw is None or raw == "":
            return default
        number = whole_number(raw, low, high)
        if number is None:
            raise V1Error(code, f"Invalid {name}")
        return number


V1Handler = Callable[[V1Call], Awaitable[Response | dict[str, Any]]]
# The most a route's body may be, once its key is known: a number, or one read from settings.
BodyLimit = int | Callable[[HttpSettings], int]


@dataclass(frozen=True)
class V1Route:
    handler: V1Handler
    auth: Auth = Auth.SENDER_KEY
    body_limit: BodyLimit = SMALL_BODY
    missing_key: tuple[int, str] = MISSING_KEY
    inactive: tuple[int, str] | None = (2, "Invalid user account")
    refusal: V1Error = ADMIN_REFUSED  # the admin routes' answer to a wrong or missing key

    async def endpoint(self, request: Request) -> Response:
        """The Starlette endpoint of the route (`Route(path, route.endpoint)`)."""
        try:
            answer = await self._answer(request)
        except V1Error as refused:
            return refused.response()
        except Exception:
            log.exception("api/v1 request failed path=%s", request.url.path)
            return INTERNAL_ERROR.response()
        return answer if isinstance(answer, Response) else JSONResponse(answer)

    async def _answer(self, request: Request) -> Response | dict[str, Any]:
        try:
            params = await read_params(request, self._limit(request), self._key_seen)
        except BodyTooLarge as error:
            raise V1Error(0, str(error), 413) from None
        except BadRequestBody as error:
            raise V1Error(0, str(error), 400) from None
        domain_id = await self._authenticate(request, params)
        return await self.handler(V1Call(request, context(request).db, params, domain_id))

    def _limit(self, request: Request) -> int:
        limit = self.body_limit
        return limit if isinstance(limit, int) else limit(context(request).settings)

    async def _authenticate(self, request: Request, params: dict[str, Any]) -> int | None:
        if self.auth is Auth.ADMIN_BEARER:
            await require_admin(request, bearer_token(request), self.refusal, rate_limited=False)
            return None
        if self.auth is Auth.ADMIN_OR_TRUSTED_NETWORK:
            await require_admin_or_trusted_network(request, params, self.refusal)
            return None
        domain_id = await key_domain(request, params, self.missing_key)
        if self.inactive is not None and not await owner_active(request, domain_id):
            raise V1Error(*self.inactive, 403)
        return domain_id

    async def _key_seen(self, request: Request, fields: dict[str, str]) -> bool:
        """Whether a body past 64 KB may be read on: a key this route takes is in sight."""
        keys = context(request).keys
        token = bearer_token(request)
        if self.auth is Auth.SENDER_KEY:
            key = token or fields.get("senderapikey", "")
            return bool(key) and await keys.domain_for(key) is not None
        return bool(await keys.is_admin(token or fields.get("adminapikey", "")))
