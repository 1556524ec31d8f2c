"""`GET /api/v1/events`: a sender domain's events for the holder of its API key (Bearer, or
`SenderAPIKey` in the query or body). Errors in the /api/v1 shape: {"Errors": [{Code, Message}]}.

Each event as 001 shows it (`Event`, `LoggedAt`, `Message.Headers`; and `Recipient`,
`MessageID`), with 004's fields beside: `EventId` (`evt_<n>`: event ids are shown nowhere
else), `EventType` (as `Event`), `EventTimestamp` (`2021-04-01T12:00:00Z`), `MessageId` (the
message's id as `MessageID` shows it and the `MessageID` filter takes it), `CampaignId` (the
message's campaign as the campaign APIs number it, "" for none) and `Details` (what was recorded
with the event: the receiving host and its reply, a bounce's reason, a complaint's user agent,
... under CamelCase names).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from http_api.formats import utc_text
from http_api.params import uuid_or_none
from http_api.v1_dispatch import V1Call, V1Route
from storage.event_names import STORED_TYPES, legacy_name
from storage.events import EventQuery, EventRow, list_events

DEFAULT_COUNT, MAX_COUNT = 5, 100


# Seconds since the epoch that a date can hold (year 9999), for StartDate and EndDate.
MAX_TIMESTAMP = 253_402_300_799


async def _events(call: V1Call) -> dict[str, Any]:
    params = call.params
    start = call.number("StartFrom", 0, 4)
    count = call.number("RetrieveCount", DEFAULT_COUNT, 5) or DEFAULT_COUNT  # 0: the default
    since = call.number("StartDate", None, 4, high=MAX_TIMESTAMP)
    until = call.number("EndDate", None, 4, high=MAX_TIMESTAMP)
    event = str(params.get("event") or "").strip().lower()
    message_id = str(params.get("messageid") or "").strip()
    query = EventQuery(
        domain_id=call.domain,
        start=start,
        count=min(count, MAX_COUNT),
        since=datetime.fromtimestamp(since, UTC) if since is not None else None,
        until=datetime.fromtimestamp(until, UTC) if until is not None else None,
        types=[STORED_TYPES.get(event, event)] if event else [],
        message_id=uuid_or_none(message_id),
    )
    if message_id and query.message_id is None:
        return {"TotalRecords": 0, "Events": []}
    total, rows = await list_events(call.db, query)
    return {"TotalRecords": total, "Events": [event_view(row) for row in rows]}


ROUTE = V1Route(_events, inactive=(2, "Invalid sender domain: its account is not active"))
endpoint = ROUTE.endpoint


def _camel_case(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def event_view(row: EventRow) -> dict[str, Any]:
    return {
        "Event": legacy_name(row.type),
        "LoggedAt": int(row.created_at.timestamp()),
        "Recipient": row.recipient,
        "MessageID": row.message_id,
        "Message": {
            "Headers": {"From": row.header_from, "To": row.recipient, "Subject": row.subject}
        },
        # 004's names
        "EventId": f"evt_{row.id}",
        "EventType": legacy_name(row.type),
        "EventTimestamp": utc_text(row.created_at),
        "MessageId": row.message_id or "",
        "CampaignId": "" if row.campaign_id is None else str(row.campaign_id),
        "Details": {_camel_case(k): v for k, v in row.data.items() if v is not None},
    }
