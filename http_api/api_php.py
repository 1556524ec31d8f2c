"""`POST /api.php`: one dispatcher for every command. Command and parameter names are matched
case-insensitively; the body may be JSON, a form or the query string. Each command module
declares its commands with `command(...)`: the name, who may call it, and a handler that parses
its parameters, calls one operation and shapes the documented answer.

Authentication failures use the family's codes: 99998 "Authentication failure or session
expired" and 99999 "Not enough privileges"; an unknown command is 99997.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from http_api.metrics import ErrorAnswer, note
from http_api.params import BadRequestBody, read_params
from mta.policy import in_networks
from storage.accounts import Caller, admin_key_matches, caller_for
from storage.engine import Database
from storage.models import Permission

NOT_PRIVILEGED = 99999
AUTH_FAILED = 99998
UNKNOWN_COMMAND = 99997
BAD_REQUEST = 99996


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
    names nothing, so it comes back as -1 and the lookup answers "not found"."""
    raw = call.get(name)
    if raw is None:
        raise Refused(missing)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return -1


Handler = Callable[[Call], Awaitable[dict[str, Any] | Response]]


@dataclass(frozen=True)
class Registered:
    access: Access
    handler: Handler
    permission: Permission | None  # what the caller's user must hold (spec: "Required permissions")


COMMANDS: dict[str, Registered] = {}


def command(
    name: str, access: Access = Access.USER, permission: Permission | None = None
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name.lower()] = Registered(access, handler, permission)
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


def from_trusted_network(request: Request) -> bool:
    client = request.client.host if request.client else ""
    return in_networks(client, request.app.state.settings.trusted_networks)


async def endpoint(request: Request) -> Response:
    try:
        params = await read_params(request)
    except BadRequestBody as error:
        return failure(BAD_REQUEST, str(error), 400)
    name = str(params.get("command") or "").strip().lower()
    registered = COMMANDS.get(name)
    if registered is None:
        shown = name or "(none)"
        return failure(UNKNOWN_COMMAND, f"Unknown command: {shown}", 400)
    access, handler = registered.access, registered.handler
    note(request, command=name)
    db: Database = request.app.state.db
    caller = await caller_for(
        db, str(params.get("apikey") or ""), str(params.get("sessionid") or "")
    )
    if access is Access.USER and caller is None:
        return failure(AUTH_FAILED, "Authentication failure or session expired")
    permission = registered.permission
    if permission is not None and (caller is None or permission not in caller.permissions):
        return failure(NOT_PRIVILEGED, f"Not enough privileges: {permission} is required", 403)
    if access is Access.ADMIN and not await admin_key_matches(
        db, str(params.get("adminapikey") or "")
    ):
        return failure(AUTH_FAILED, "Authentication failure or session expired")
    if access is Access.TRUSTED and not from_trusted_network(request):
        return failure(NOT_PRIVILEGED, "Not enough privileges", 403)
    try:
        answer = await handler(Call(db, params, caller, request))
    except Refused as refused:
        answer = refused.answer
    return answered(answer)
