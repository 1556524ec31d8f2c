"""`GET /api/v1/events`: a sender domain's events for the holder of its API key (Bearer, or
`SenderAPIKey` in the query or body). Errors in the /api/v1 shape: {"Errors": [{Code, Message}]}.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from http_api.commands.events import LEGACY_NAMES, STORED_TYPES
from http_api.params import BadRequestBody, read_params, uuid_or_none
from http_api.v1_auth import errors, sender_domain
from storage.engine import Database
from storage.events import EventQuery, list_events

DEFAULT_COUNT, MAX_COUNT = 5, 100


class _Invalid(Exception):
    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message


def _number(params: dict[str, Any], name: str, default: int | None, code: int) -> int | None:
    raw = params.get(name.lower())
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _Invalid(code, f"Invalid {name}") from None


async def endpoint(request: Request) -> Response:
    db: Database = request.app.state.db
    try:
        params = await read_params(request)
    except BadRequestBody as error:
        return errors(0, str(error), 400)
    domain_id = await sender_domain(request, params)
    if isinstance(domain_id, Response):
        return domain_id
    try:
        start = _number(params, "StartFrom", 0, 4) or 0
        count = _number(params, "RetrieveCount", DEFAULT_COUNT, 5) or DEFAULT_COUNT
        since = _number(params, "StartDate", None, 4)
        until = _number(params, "EndDate", None, 4)
    except _Invalid as invalid:
        return errors(invalid.code, invalid.message, 400)
    if start < 0 or count < 1:
        return errors(5 if count < 1 else 4, "StartFrom and RetrieveCount must be positive", 400)
    event = str(params.get("event") or "").strip().lower()
    message_id = str(params.get("messageid") or "").strip()
    query = EventQuery(
        domain_id=domain_id,
        start=start,
        count=min(count, MAX_COUNT),
        since=datetime.fromtimestamp(since, UTC) if since is not None else None,
        until=datetime.fromtimestamp(until, UTC) if until is not None else None,
        types=[STORED_TYPES.get(event, event)] if event else [],
        message_id=uuid_or_none(message_id),
    )
    if message_id and query.message_id is None:
        return JSONResponse({"TotalRecords": 0, "Events": []})
    total, rows = await list_events(db.engine, query)
    events = [
        {
            "Event": LEGACY_NAMES.get(row.type, row.type),
            "LoggedAt": int(row.created_at.timestamp()),
            "Recipient": row.recipient,
            "MessageID": row.message_id,
            "Message": {
                "Headers": {"From": row.header_from, "To": row.recipient, "Subject": row.subject}
            },
        }
        for row in rows
    ]
    return JSONResponse({"TotalRecords": total, "Events": events})
