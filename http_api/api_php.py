"""`POST /api.php`: one dispatcher for every command. Command and parameter names are matched
case-insensitively; the body may be JSON, a form or the query string. Each command module
declares its commands with `command(...)`: the name, who may call it, and a handler that parses
its parameters, calls one operation and shapes the documented answer.

One way in and one way out: the request's parameters are read by `read_params` within the
body limits of http_api/params.py (64 KB until a credential is seen: `APIKey`, `SessionID` or
`AdminAPIKey` in the query or the body's first 64 KB, or an `internal.*` command from a trusted
network; then a whole message's worth, `message_body_limit`), every refusal is the family's
envelope `{"Success": false, "ErrorCode": ..., "ErrorText": ...}` (`failure`, or `failed` for a
command's documented shape), and whatever a handler raises is logged with its traceback and
answered 500 with INTERNAL_ERROR, never with the exception's text.

Authentication failures use the family's codes: 99998 "Authentication failure or session
expired" and 99999 "Not enough privileges"; an unknown command is 99997; a body that cannot be
read is 99996 (400, or 413 past its limit); a failure of ours is 99995 (500).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from http_api.context import context
from http_api.metrics import ErrorAnswer, note
from http_api.networks import from_trusted_network
from http_api.params import (
    BadRequestBody,
    BodyTooLarge,
    message_body_limit,
    read_params,
    scalar_text,
    whole_number,
)
from storage.accounts import Caller, admin_key_matches, caller_for
from storage.engine import Database
from storage.models import Permission

log = logging.getLogger("mailgate.api")

NOT_PRIVILEGED = 99999
AUTH_FAILED = 99998
UNKNOWN_COMMAND = 99997
BAD_REQUEST = 99996
INTERNAL_ERROR = 99995


class Access(enum.Enum):
    USER = "user"  # APIKey or SessionID of an active user
    ANYONE = "anyone"  # logging in
    TRUSTED = "trusted"  # internal.*: only from the trusted networks (DESIGN, Security)
    ADMIN = "admin"  # the gateway's AdminAPIKey


@dataclass(frozen=True)
class Call:
    """One request to a command: its parameters (lower-cased names) and who makes it."""

    db: Database
    params: dict[str, Any]
    caller: Caller | None
    request: Request

    def get(self, *names: str) -> Any:
        """The first parameter present under any of its spellings (001's, then 004's)."""
        for name in names:
            value = self.params.get(name.lower())
            if value is not None and value != "":
                return value
        return None

    def text(self, *names: str) -> str:
        """A text parameter (see `get`) as params.scalar_text reads it: "" when absent, and
        when sent as what a form cannot send (an array, an object) or with a NUL."""
        return scalar_text(self.get(*names))

    def raw(self, name: str) -> Any:
        """A parameter as sent, "" included (None only when absent): "" clears a value."""
        return self.params.get(name.lower())


class Refused(Exception):
    """Raised by a handler (or a helper it calls) to answer with a documented error at once."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer)
        self.answer = answer


def id_param(call: Call, name: str, missing: dict[str, Any]) -> int:
    """An id parameter; raises Refused(`missing`) when absent. A value that is not a number
    names nothing (nor does one no row can have), so it comes back as -1 and the lookup answers
    "not found"."""
    raw = call.get(name)
    if raw is None:
        raise Refused(missing)
    number = whole_number(raw)
    return -1 if number is None else number


def page_params(call: Call, most: int) -> tuple[int, int]:
    """StartFrom and RetrieveCount as the listing commands take them (getevents,
    getsuppressions): both required, StartFrom from 0 (4 otherwise), RetrieveCount from 1 (5
    otherwise) and capped at `most`; raises Refused with the code."""
    start = id_param(call, "StartFrom", failed(4, "Missing required parameter (StartFrom)"))
    count = id_param(call, "RetrieveCount", failed(5, "Missing required parameter (RetrieveCount)"))
    if count < 1 or start < 0:
        raise Refused(failed(5 if count < 1 else 4, "StartFrom and RetrieveCount must be positive"))
    return start, min(count, most)


Handler = Callable[[Call], Awaitable[dict[str, Any] | Response]]


@dataclass(frozen=True)
class Registered:
    access: Access
    handler: Handler
    permission: Permission | None  # what the caller's user must hold (spec: "Required permissions")


COMMANDS: dict[str, Registered] = {}


class DuplicateCommand(RuntimeError):
    """Two handlers for one command name: the app must not start with either silently lost."""


def command(
    name: str, access: Access = Access.USER, permission: Permission | None = None
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        key = name.lower()
        if key in COMMANDS:
            raise DuplicateCommand(f"/api.php command {name} is registered twice")
        COMMANDS[key] = Registered(access, handler, permission)
        return handler

    return register


def failed(code: int | list[int], message: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"Success": False, "ErrorCode": code}
    if message:
        answer["ErrorMessage"] = message  # 004's field
    return answer


def failure(code: int, text: str, status: int = 200) -> Response:
    return ErrorAnswer({"Success": False, "ErrorCode": code, "ErrorText": text}, status, code)


def answered(answer: dict[str, Any] | Response) -> Response:
    """A handler's answer; a `failed(...)` one names its ErrorCode on the access-log line."""
    if isinstance(answer, Response):
        return answer
    if answer.get("Success") is False:
        return ErrorAnswer(answer, 200, answer.get("ErrorCode"))
    return JSONResponse(answer)


async def _credential_seen(request: Request, fields: dict[str, str]) -> bool:
    """Whether a body that goes on past 64 KB may be read on: its first part (or the query)
    names a valid user key or session, the admin key, or a trusted command from a trusted
    network."""
    db: Database = context(request).db
    if await caller_for(db, fields.get("apikey", ""), fields.get("sessionid", "")):
        return True
    if fields.get("adminapikey") and await admin_key_matches(db, fields["adminapikey"]):
        return True
    registered = COMMANDS.get(fields.get("command", "").strip().lower())
    trusted = registered is not None and registered.access is Access.TRUSTED
    return trusted and from_trusted_network(request)


async def endpoint(request: Request) -> Response:
    """Read, authenticate, dispatch, answer: any exception of ours is a logged 500."""
    try:
        return await _dispatch(request)
    except Exception:
        log.exception("api.php command failed command=%s", _noted_command(request))
        return failure(INTERNAL_ERROR, "Internal server error", 500)


def _noted_command(request: Request) -> str:
    fields = request.scope.get("state", {}).get("log_fields", {})
    return str(fields.get("command", ""))


async def _dispatch(request: Request) -> Response:
    limit = message_body_limit(context(request).settings.max_message_size)
    try:
        params = await read_params(request, limit, _credential_seen)
    except BodyTooLarge as error:
        return failure(BAD_REQUEST, str(error), 413)
    except BadRequestBody as error:
        return failure(BAD_REQUEST, str(error), 400)
    name = str(params.get("command") or "").strip().lower()
    registered = COMMANDS.get(name)
    if registered is None:
        shown = name or "(none)"
        return failure(UNKNOWN_COMMAND, f"Unknown command: {shown}", 400)
    note(request, command=name)
    db: Database = context(request).db
    caller = await caller_for(
        db, str(params.get("apikey") or ""), str(params.get("sessionid") or "")
    )
    refusal = await _access_refusal(request, registered, caller, params)
    if refusal is not None:
        return refusal
    try:
        answer = await registered.handler(Call(db, params, caller, request))
    except Refused as refused:
        answer = refused.answer
    return answered(answer)


async def _access_refusal(
    request: Request, registered: Registered, caller: Caller | None, params: dict[str, Any]
) -> Response | None:
    """The family's refusal when the caller may not run the command; None when it may."""
    access, permission = registered.access, registered.permission
    if access is Access.USER and caller is None:
        return failure(AUTH_FAILED, "Authentication failure or session expired")
    if permission is not None and (caller is None or permission not in caller.permissions):
        return failure(NOT_PRIVILEGED, f"Not enough privileges: {permission} is required", 403)
    if access is Access.ADMIN:
        key = str(params.get("adminapikey") or "")
        if not await admin_key_matches(context(request).db, key):
            return failure(AUTH_FAILED, "Authentication failure or session expired")
    if access is Access.TRUSTED and not from_trusted_network(request):
        return failure(NOT_PRIVILEGED, "Not enough privileges", 403)
    return None
