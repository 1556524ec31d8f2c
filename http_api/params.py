"""Request parameters as the APIs accept them (JSON, form, urlencoded or multipart, or query
string; names matched case-insensitively, `DomainName` == `domainname`), and the bounds every
body is read within. Each surface reads its input here and nowhere else.

Bodies. A route reads its body with `read_body` (or `read_params`) and a limit, enforced while
streaming: a declared Content-Length over the limit is refused before a byte is read, a chunked
body at the chunk that passes it; the worker never holds more than the limit, and the client
gets the surface's 413. A request whose credential is not known yet may send SMALL_BODY (64 KB)
only. A surface whose route takes more passes `credentials`, the check of a credential it
accepts: when a body does not end within its first SMALL_BODY bytes, that check is asked about
the request's headers and the fields visible in that first part or in the query string
(`visible_fields`), and only a request it accepts is read on to the route's limit. /api/v1 and
/rest carry their keys in headers; /api.php documents `APIKey` in the body, so its clients
(forms and JSON with the key inside, large Email.Create content included) keep working as long
as the key comes within the first 64 KB, as the documented examples put it. Small requests,
nearly all of them, never pay for the extra lookup.

JSON. `parse_json` refuses what Python's reader takes but the code behind cannot hold: nesting
deeper than MAX_DEPTH (RecursionError), `NaN`/`Infinity` and numbers that overflow to them,
integers beyond 64 bits (OverflowError at the database), lone surrogates in strings or names
(UnicodeEncodeError wherever the text is encoded), and NUL characters (PostgreSQL cannot store
one in text; codecs and paths refuse it). Forms and query strings cannot carry lone
surrogates (their bytes are decoded with replacement); a NUL in them is refused too.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

SMALL_BODY = 64 * 1024  # bytes a request may send before its credential is known
MAX_DEPTH = 32  # levels of JSON arrays and objects; the documents nest four at most
MAX_FIELDS = 1000  # form fields in one request
# The largest id a row can have (a signed 64-bit column on PostgreSQL and SQLite alike).
MAX_ID = 2**63 - 1
_NOT_TEXT = re.compile("[\ud800-\udfff\x00]")  # what no parameter may hold: see above


class BadRequestBody(Exception):
    """The body claims a format it is not in (JSON that does not parse, say)."""


class BodyTooLarge(BadRequestBody):
    """The body is larger than the route takes; it was not read to the end."""


def message_body_limit(max_message_size: int) -> int:
    """The body a route carrying a whole message may send: the message as base64 (a third
    larger) plus a margin for the other parameters."""
    return max_message_size * 4 // 3 + 1024 * 1024


# -- JSON -----------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise BadRequestBody(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    number = int(text) if len(text) <= 20 else MAX_ID + 1
    if not -MAX_ID - 1 <= number <= MAX_ID:
        raise BadRequestBody("an integer in the body is beyond 64 bits")
    return number


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise BadRequestBody("a number in the body is too large")
    return number


def parse_json(body: bytes | str) -> Any:
    """The JSON value of `body`; BadRequestBody for anything the code behind could not hold."""
    try:
        data = json.loads(
            body, parse_constant=_no_constant, parse_int=_bounded_int, parse_float=_finite_float
        )
    except RecursionError:
        raise BadRequestBody(f"the JSON body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:  # UnicodeDecodeError and the 4,300-digit limit included
        raise BadRequestBody(f"the body is not valid JSON: {error}") from None
    _check_tree(data)
    return data


def _check_tree(data: Any) -> None:
    """Depth and strings of a parsed value, walked without recursion."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _NOT_TEXT.search(value):
                raise BadRequestBody("a string in the body holds a NUL or a lone surrogate")
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise BadRequestBody(f"the JSON body is nested deeper than {MAX_DEPTH} levels")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def _json_object(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BadRequestBody("the JSON body must be an object")
    return {str(key).lower(): value for key, value in data.items()}


# -- bodies ---------------------------------------------------------------------------------

# Whether a request carries a credential its surface accepts, from its headers and the fields
# (lower-cased names) visible in the query string and the first part of its body.
Credentials = Callable[[Request, dict[str, str]], Awaitable[bool]]


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"the request exceeds the size limit of {limit} bytes")


class _Reader:
    """A request's body read in steps, each up to a limit (one byte past it proves it is
    larger)."""

    def __init__(self, request: Request) -> None:
        self._chunks = request.stream()
        self.data = bytearray()
        self.ended = False

    async def fill(self, limit: int) -> None:
        while not self.ended and len(self.data) <= limit:
            try:
                self.data += await anext(self._chunks)
            except StopAsyncIteration:
                self.ended = True


async def read_body(
    request: Request, limit: int, credentials: Credentials | None = None, small: int = SMALL_BODY
) -> bytes:
    """The body, refused once it passes `limit` bytes, whether it announces its length or not;
    with `credentials`, refused past `small` bytes unless they accept the request."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    reader = _Reader(request)
    if credentials is not None and small < limit:
        await reader.fill(small)
        if not reader.ended:
            fields = visible_fields(request, bytes(reader.data[:small]))
            if not await credentials(request, fields):
                raise BodyTooLarge(
                    f"the request exceeds {small} bytes without a valid credential before them"
                )
    await reader.fill(limit)
    if len(reader.data) > limit:
        raise _too_large(limit)
    return bytes(reader.data)


_JSON_FIELD = re.compile(r'"(\w{1,64})"\s*:\s*"((?:[^"\\]|\\.){0,512})"')
_MULTIPART_FIELD = re.compile(
    rb'name="(\w{1,64})"\r\n(?:[^\r\n]*\r\n)*?\r\n([^\r\n]{0,512})\r\n', re.IGNORECASE
)


def visible_fields(request: Request, head: bytes) -> dict[str, str]:
    """The query string's parameters and the text fields readable in `head`, the first part of
    a body that goes on: enough to find a credential, never the parameters themselves."""
    fields = {key.lower(): value for key, value in request.query_params.items()}
    found: list[tuple[str, str]] = []
    kind = _content_type(request.headers)
    text = head.decode("utf-8", "replace")
    if kind == "multipart/form-data":
        found = [(n.decode("latin-1"), v.decode("utf-8", "replace")) for n, v in
                 _MULTIPART_FIELD.findall(head)]  # fmt: skip
    elif text.lstrip().startswith("{"):
        for name, value in _JSON_FIELD.findall(text):
            try:
                found.append((name, parse_json(f'"{value}"')))
            except BadRequestBody:
                continue  # an escape cut short, or a lone surrogate: no credential
    else:  # a form: the last pair may be cut
        found = parse_qsl(text.rpartition("&")[0], keep_blank_values=True)
    for name, value in found:
        fields.setdefault(name.lower(), value)
    return fields


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _form(headers: Headers, body: bytes) -> dict[str, Any]:
    if _content_type(headers) == "multipart/form-data":
        parser = MultiPartParser(
            headers, _once(body), max_fields=MAX_FIELDS, max_part_size=max(len(body), 1)
        )
        try:
            form = await parser.parse()
        except MultiPartException as error:
            raise BadRequestBody(f"the form is not valid: {error.message}") from None
        return {key.lower(): value for key, value in checked_pairs(form.multi_items())}
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
        )
    except ValueError as error:
        raise BadRequestBody(f"the form is not valid: {error}") from None
    return {key.lower(): value for key, value in checked_pairs(pairs)}


def _content_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def checked_pairs(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Query or form pairs, refused when a name or a text value holds a NUL."""
    checked = list(pairs)
    for name, value in checked:
        if "\0" in name or (isinstance(value, str) and "\0" in value):
            raise BadRequestBody(f"the parameter {name!r} holds a NUL character")
    return checked


async def params_of(request: Request, body: bytes) -> dict[str, Any]:
    """Query parameters overlaid by those of `body` (already read); keys lower-cased."""
    query = checked_pairs(request.query_params.multi_items())
    params: dict[str, Any] = {key.lower(): value for key, value in query}
    kind = _content_type(request.headers)
    if kind == "application/json":
        if body.strip():
            params.update(_json_object(body))
    elif kind == "application/x-www-form-urlencoded" and body.lstrip().startswith(b"{"):
        # `curl -d '{"WebhookID": "123"}'` without a Content-Type header, as 004's examples
        # send it: JSON labelled as a form (no form field name starts with a brace).
        params.update(_json_object(body))
    elif kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        params.update(await _form(request.headers, body))
    return params


async def read_params(
    request: Request, limit: int = SMALL_BODY, credentials: Credentials | None = None
) -> dict[str, Any]:
    """Query parameters, overlaid by the body's (read within `limit`, see read_body); keys
    lower-cased."""
    return await params_of(request, await read_body(request, limit, credentials))


# -- values ---------------------------------------------------------------------------------


def whole_number(value: Any, low: int = 0, high: int = MAX_ID) -> int | None:
    """`value` (a number, or its decimal text) as an int within low..high; None for anything
    else: a parameter that is not such a number names nothing, and a value a database column
    cannot hold must never reach a query (it raised OverflowError there)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        digits = text[1:] if text.startswith("-") else text
        if not (digits.isascii() and digits.isdigit()) or len(text) > 20:
            return None
        number = int(text)
    return number if low <= number <= high else None


def scalar_text(value: Any) -> str:
    """A parameter as the text a form would send: a string as it is, a number in decimal, a
    boolean as 1 or 0. What no form sends (an array, an object) reads as "", as null does, so
    each command answers it with its own missing or invalid value code, never a 500 (a NUL
    never gets this far: the reader refuses it)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        return ""
    return value


def uuid_or_none(value: Any) -> uuid.UUID | None:
    """A message id parameter; None when absent or not a UUID (it then names no message)."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
