"""Request parameters as the API documents accept them: JSON, form (urlencoded or multipart)
or query string, names matched case-insensitively (`DomainName` == `domainname`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request


class BadRequestBody(Exception):
    """The body claims a format it is not in (JSON that does not parse, say)."""


async def read_params(request: Request) -> dict[str, Any]:
    """Query parameters, overlaid by the body's; keys lower-cased."""
    params: dict[str, Any] = {key.lower(): value for key, value in request.query_params.items()}
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json":
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError as error:
                raise BadRequestBody(f"the body is not valid JSON: {error}") from None
            if not isinstance(data, dict):
                raise BadRequestBody("the JSON body must be an object")
            params.update({str(key).lower(): value for key, value in data.items()})
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        params.update({key.lower(): value for key, value in form.items()})
    return params


def uuid_or_none(value: Any) -> uuid.UUID | None:
    """A message id parameter; None when absent or not a UUID (it then names no message)."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
