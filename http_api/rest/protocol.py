"""The `/rest` protocol of 003: signed requests, the access path, and the answer shapes.

Every request carries `X-Rest-ApiKey` (the account's 32-character key) and `X-Rest-ApiSign`,
`sha1(ApiKey + path + body + ApiSecret)` in hex, where the path is the access path as sent
(`/rest/ping`, with its query string when there is one) and the body is the raw POST data, URL
encoded or JSON, empty for a GET. The signature is checked over the bytes received, so both of
the document's schemes are the same check. The account's secret is derived from its stored salt
(storage/accounts.account_rest_secret), never stored.

Answers: `{"status":"OK","data":...}`, or `{"status":"ERROR","errors":[{"message","code"}]}`
with an HTTP status that says what kind of failure it was (401 for 1000, 404 for 1001, 405 for
1003, 403 for 1004, 500 for 500, 400 for the actions' own codes): the document says errors are
"identified in the header" and that only partial successes answer 200.

Input is read within http_api/params.py's bounds: 64 KB until X-Rest-ApiKey names an account,
BODY_LIMIT after (413 past it, unread); JSON through its bounded reader (depth, NaN/Infinity,
64-bit integers, lone surrogates: 1002), form names nested at most MAX_DEPTH brackets deep.
Whatever an action raises besides RestError is logged with its traceback and answered 500.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

from sqlalchemy import Row, bindparam, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from http_api.context import context
from http_api.metrics import ErrorAnswer, note
from http_api.params import (
    MAX_DEPTH,
    MAX_FIELDS,
    BadRequestBody,
    BodyTooLarge,
    checked_pairs,
    parse_json,
    read_body,
    scalar_text,
)
from storage.accounts import account_rest_secret
from storage.engine import Database
from storage.models import User, UserStatus

log = logging.getLogger("mailgate.rest")

NO_AUTHORIZATION = 1000
NOT_FOUND = 1001
UNSUPPORTED_PROTOCOL = 1002
UNSUPPORTED_COMMAND_TYPE = 1003
NO_PERMISSION = 1004
SERVER_ERROR = 500

# Bytes of a body once X-Rest-ApiKey names an account (64 KB before: http_api/params.py); a
# /rest/mail with attachments named by URL fits easily.
BODY_LIMIT = 16 * 1024 * 1024
_STATUS = {
    NO_AUTHORIZATION: 401,
    NOT_FOUND: 404,
    UNSUPPORTED_PROTOCOL: 400,
    UNSUPPORTED_COMMAND_TYPE: 405,
    NO_PERMISSION: 403,
    SERVER_ERROR: 500,
}
_MESSAGES = {
    NO_AUTHORIZATION: "No authorization",
    NOT_FOUND: "Controller/action not found",
    UNSUPPORTED_PROTOCOL: "Unsupported protocol",
    UNSUPPORTED_COMMAND_TYPE: "Unsupported command type",
    NO_PERMISSION: "No permission to request controller/action",
    SERVER_ERROR: "Server error",
}


class RestError(Exception):
    """An answer with one or more documented errors. `status` defaults by the first code."""

    def __init__(
        self, code: int, message: str = "", status: int | None = None, *more: tuple[int, str]
    ) -> None:
        super().__init__(message or _MESSAGES.get(code, ""))
        self.errors = [(code, message or _MESSAGES.get(code, "")), *more]
        self.status = status if status is not None else _STATUS.get(code, 400)


@dataclass(frozen=True)
class Account:
    """The account a signed request acts for."""

    user_id: int
    email: str
    status: UserStatus
    parent_user_id: int | None


@dataclass(frozen=True)
class RestCall:
    """One request to an action: who makes it, its data and the path's parameters."""

    request: Request
    db: Database
    account: Account
    data: Any  # the JSON or form data as sent (form names with [] read as PHP reads them)
    path: list[str] = field(default_factory=list)

    def param(self, name: str, default: Any = None) -> Any:
        """A named value of the data (names as the document spells them, in any case)."""
        if not isinstance(self.data, dict):
            return default
        if name in self.data:
            return self.data[name]
        wanted = name.lower()
        for key, value in self.data.items():
            if str(key).lower() == wanted:
                return value
        return default

    def text(self, name: str) -> str:
        """A text parameter, stripped, as params.scalar_text reads it: "" when absent, and when
        sent as what a form cannot send (an array, an object) or with a NUL."""
        return scalar_text(self.param(name)).strip()


Handler = Callable[[RestCall], Awaitable[Any]]


@dataclass(frozen=True)
class Registered:
    handler: Handler
    methods: frozenset[str]


ACTIONS: dict[tuple[str, str], Registered] = {}


def action(
    controller: str, name: str = "", methods: tuple[str, ...] = ("POST",)
) -> Callable[[Handler], Handler]:
    """Register a handler for `/rest/controller/name` (`name` empty: `/rest/controller`). The
    handler returns the answer's `data` or raises RestError."""

    def register(handler: Handler) -> Handler:
        key = (controller.lower(), name.lower())
        assert key not in ACTIONS, f"/rest/{controller}/{name} registered twice"
        ACTIONS[key] = Registered(handler, frozenset(methods))
        return handler

    return register


def ok(data: Any) -> JSONResponse:
    return JSONResponse({"status": "OK", "data": data})


def failure(error: RestError) -> JSONResponse:
    errors = [{"message": message, "code": code} for code, message in error.errors]
    codes = [code for code, _ in error.errors]
    return ErrorAnswer({"errors": errors, "status": "ERROR"}, error.status, codes)


def signature(api_key: str, path: str, body: bytes, secret: str) -> str:
    """The X-Rest-ApiSign of a request, as the document defines it (SHA-1 is the contract's)."""
    signed = api_key.encode() + path.encode() + body + secret.encode()
    return hashlib.sha1(signed, usedforsecurity=True).hexdigest()  # noqa: S324


def signed_path(request: Request) -> str:
    """The access path the client signed: the path as sent, with its query string if any."""
    path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    query = request.url.query  # (ASGI's raw_path never holds the query)
    return f"{path}?{query}" if query else path


_ACCOUNT = select(
    User.id, User.email, User.status, User.parent_user_id, User.rest_secret_salt
).where(User.rest_api_key == bindparam("key"))
# id, email, status, parent_user_id, rest_secret_salt
_AccountRow: TypeAlias = Row[int, str, UserStatus, int | None, str | None]


async def _account_row(request: Request) -> _AccountRow | None:
    """The row of the account named by X-Rest-ApiKey, or None."""
    key = request.headers.get("x-rest-apikey", "")
    if len(key) != 32:
        return None
    db: Database = context(request).db
    rows = await db.rows(_ACCOUNT, {"key": key})
    return rows[0] if rows else None


async def _key_known(request: Request, fields: dict[str, str]) -> bool:
    """Whether a body past 64 KB may be read on: its X-Rest-ApiKey names an account (the
    signature, over the whole body, is checked once it is read)."""
    return await _account_row(request) is not None


async def authenticate(request: Request, body: bytes) -> Account:
    """The account whose key signed this request, or RestError 1000."""
    key = request.headers.get("x-rest-apikey", "")
    sign = request.headers.get("x-rest-apisign", "").lower()
    if len(key) != 32 or not sign:
        raise RestError(NO_AUTHORIZATION)
    row = await _account_row(request)
    server_key: bytes | None = context(request).settings.conversion_key
    if row is None or row.rest_secret_salt is None or server_key is None:
        raise RestError(NO_AUTHORIZATION)
    secret = account_rest_secret(server_key, row.rest_secret_salt)
    expected = signature(key, signed_path(request), body, secret)
    if not hmac.compare_digest(expected, sign):
        raise RestError(NO_AUTHORIZATION)
    return Account(row.id, row.email, row.status, row.parent_user_id)


def parse_data(body: bytes) -> Any:
    """The request's data: JSON when the body is JSON (the document's clients send
    `Content-Type: application/json` with either scheme, so the header cannot tell), else a
    URL-encoded form, with PHP's bracket names (`custom_fields[tag]=v`, `emails[]=a`)."""
    text = body.strip()
    if not text:
        return {}
    if text[:1] in (b"{", b"["):
        try:
            return parse_json(text)
        except BadRequestBody as error:
            raise RestError(UNSUPPORTED_PROTOCOL, f"The body is not valid JSON: {error}") from None
    try:
        pairs = parse_qsl(
            text.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=MAX_FIELDS,
        )
        return php_form(checked_pairs(pairs))
    except (UnicodeDecodeError, ValueError):
        raise RestError(UNSUPPORTED_PROTOCOL, "The body is neither JSON nor a form") from None
    except BadRequestBody as error:
        raise RestError(UNSUPPORTED_PROTOCOL, f"The body is not a valid form: {error}") from None


_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def php_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form pairs as PHP reads them: `a[b][c]=1` nests, `a[]=1` appends."""
    data: dict[str, Any] = {}
    for name, value in pairs:
        head, _, rest = name.partition("[")
        keys = [head, *_BRACKETS.findall("[" + rest)] if rest else [head]
        if len(keys) > MAX_DEPTH:
            raise RestError(UNSUPPORTED_PROTOCOL, f"A form name nests deeper than {MAX_DEPTH}")
        node: Any = data
        for index, key in enumerate(keys):
            last = index == len(keys) - 1
            if isinstance(node, list):
                node.append(value if last else {})
                node = node[-1]
                continue
            if last:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, (dict, list)):
                    child = node[key] = [] if keys[index + 1] == "" else {}
                node = child
    return data


def _resolve(parts: list[str]) -> tuple[Registered | None, list[str]]:
    """The action an access path names and the path's parameters after it."""
    if not parts:
        return None, []
    controller = parts[0].lower()
    if len(parts) > 1:
        found = ACTIONS.get((controller, parts[1].lower()))
        if found is not None:
            return found, parts[2:]
    return ACTIONS.get((controller, "")), parts[1:]


async def endpoint(request: Request) -> Response:
    """`/rest/...`: authenticate, find the action, run it, shape the answer. (The actions are
    registered by importing http_api.rest.controllers, as the app does.)"""
    try:
        try:
            body = await read_body(request, BODY_LIMIT, _key_known)
        except BodyTooLarge:
            raise RestError(UNSUPPORTED_PROTOCOL, "The request is too large", 413) from None
        account = await authenticate(request, body)
        parts = [part for part in request.url.path.split("/")[2:] if part]
        if any("\0" in part for part in parts):  # as in any parameter (http_api/params.py)
            raise RestError(UNSUPPORTED_PROTOCOL, "The access path holds a NUL character")
        found, path = _resolve(parts)
        if found is None:
            raise RestError(NOT_FOUND)
        note(request, command="/".join(parts[:2]))
        if request.method not in found.methods:
            raise RestError(UNSUPPORTED_COMMAND_TYPE)
        if account.status is not UserStatus.ACTIVE:
            raise RestError(NO_PERMISSION, "The account is not active")
        data = parse_data(body) if request.method == "POST" else {}
        call = RestCall(request, context(request).db, account, data, path)
        return ok(await found.handler(call))
    except RestError as error:
        return failure(error)
    except Exception:
        log.exception("rest action failed path=%s", request.url.path)
        return failure(RestError(SERVER_ERROR))
