"""Request parameters as the API documents accept them: JSON, form (urlencoded or multipart)
or query string, names matched case-insensitively (`DomainName` == `domainname`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request


class BadRequestBody(Exception):
    """The body claims a format it is not in (JSON that does not parse, say)."""


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise BadRequestBody(f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadRequestBody("the JSON body must be an object")
    return {str(key).lower(): value for key, value in data.items()}


class BodyTooLarge(BadRequestBody):
    """The body is larger than the route takes; it was not read to the end."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused once it passes `limit` bytes, whether it announces its length or not."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the request exceeds the size limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the request exceeds the size limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_params(request: Request, limit: int | None = None) -> dict[str, Any]:
    """Query parameters, overlaid by the body's; keys lower-cased. `limit` caps a JSON body."""
    params: dict[str, Any] = {key.lower(): value for key, value in request.query_params.items()}
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json":
        body = await (request.body() if limit is None else read_body(request, limit))
        if body.strip():
            params.update(_json_object(body))
    elif content_type == "application/x-www-form-urlencoded" and (
        await request.body()
    ).lstrip().startswith(b"{"):
        # `curl -d '{"WebhookID": "123"}'` without a Content-Type header, as 004's examples
        # send it: JSON labelled as a form (no form field name starts with a brace).
        params.update(_json_object(await request.body()))
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        params.update({key.lower(): value for key, value in form.items()})
    return params


# The largest id a row can have (a signed 64-bit column on PostgreSQL and SQLite alike).
MAX_ID = 2**63 - 1


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
        if not text.lstrip("-").isdigit() or len(text) > 20:
            return None
        number = int(text)
    return number if low <= number <= high else None


def uuid_or_none(value: Any) -> uuid.UUID | None:
    """A message id parameter; None when absent or not a UUID (it then names no message)."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
