"""`emailgateway.getevents`: a sender domain's events for /api.php, under the legacy names
(`delivery`, `bounce`, `complaint`, ...; the /api/v1 names are accepted as filters too), each
as `event` (001) and `event_type` (004)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from http_api.api_php import Call, Refused, command, failed, page_params
from http_api.commands.domains import owned_domain
from http_api.params import whole_number
from storage.delivery_speed import FAILED, SENT, OutcomeSpeed, delivery_speed
from storage.event_names import STORED_TYPES, EventType, legacy_name
from storage.events import EventQuery, count_by_tag, count_by_type, list_events
from storage.models import Permission

MAX_COUNT = 100


def _date(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise Refused(failed(3, f"Invalid {name} (Y-m-d)")) from None


@command("emailgateway.getevents", permission=Permission.MANAGE_DOMAIN)
async def get_events(call: Call) -> dict[str, Any]:
    """1: no DomainID; 2: no such domain, or another user's; 3: a date not in Y-m-d; 4: no
    StartFrom; 5: no (or a non-positive) RetrieveCount, which is capped at 100."""
    domain_id = (await owned_domain(call)).id
    start, count = page_params(call, MAX_COUNT)
    until = _date(call.get("EndDate"), "EndDate")
    event = call.text("Event").strip().lower()
    query = EventQuery(
        domain_id=domain_id,
        start=start,
        count=count,
        since=_date(call.get("StartDate"), "StartDate"),
        until=until + timedelta(days=1) if until else None,  # the end date is included
        types=[STORED_TYPES.get(event, event)] if event else [],
        search=call.text("Query").strip() or None,
    )
    total, rows = await list_events(call.db, query)
    events = [
        {
            "event": legacy_name(row.type),
            "event_type": legacy_name(row.type),  # 004's name
            "timestamp": int(row.created_at.timestamp()),
            "recipient": row.recipient,
            "message-id": row.message_id,
            "message": {
                "headers": {"from": row.header_from, "to": row.recipient, "subject": row.subject}
            },
            **({"reason": row.data["reply"]} if row.data.get("reply") else {}),
            **({"url": row.data["link"]} if row.data.get("link") else {}),
        }
        for row in rows
    ]
    return {"Success": True, "ErrorCode": 0, "TotalRecords": total, "Events": events}


STAT_NAMES = {  # documented name -> stored event type
    "Sent": EventType.QUEUED,
    "Delivered": EventType.DELIVERED,
    "Bounced": EventType.BOUNCED,
    "Opened": EventType.OPENED,
    "Clicked": EventType.CLICKED,
}
UNIQUE_STATS = {"Opened": EventType.OPENED, "Clicked": EventType.CLICKED}
DEFAULT_DAYS = 28


def _period(call: Call) -> tuple[datetime, datetime]:
    """[StartDate, EndDate + 1 day): both days included; by default the last 28 days."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = _date(call.get("EndDate"), "EndDate") or today
    start = _date(call.get("StartDate"), "StartDate") or end - timedelta(days=DEFAULT_DAYS)
    return start, end + timedelta(days=1)


@command("emailgateway.domainstats", permission=Permission.MANAGE_DOMAIN)
async def domain_stats(call: Call) -> dict[str, Any]:
    """Counts for [StartDate, EndDate] (default the last 28 days, both days included), the same
    for the period of equal length before it, and per message tag. 1: no DomainID; 2: no such
    domain, or another user's; 3: a date not in Y-m-d."""
    domain_id = (await owned_domain(call)).id
    start, until = _period(call)
    now_counts = await count_by_type(call.db, domain_id, start, until)
    unique = await count_by_type(call.db, domain_id, start, until, unique=True)
    before = await count_by_type(call.db, domain_id, start - (until - start), start)
    tagged = await count_by_tag(
        call.db, domain_id, start, until, [EventType.QUEUED, EventType.DELIVERED]
    )
    return {
        "Success": True,
        "ErrorCode": 0,
        "Stats": {
            **{name: now_counts.get(kind, 0) for name, kind in STAT_NAMES.items()},
            # Opens and clicks above are totals; these count each recipient of a message once.
            **{f"Unique{name}": unique.get(kind, 0) for name, kind in UNIQUE_STATS.items()},
        },
        "ComparisonStats": {
            "PreviousPeriod": {
                "Sent": before.get(EventType.QUEUED, 0),
                "Delivered": before.get(EventType.DELIVERED, 0),
            }
        },
        "TagStats": {
            tag: {
                "Sent": counts.get(EventType.QUEUED, 0),
                "Delivered": counts.get(EventType.DELIVERED, 0),
            }
            for tag, counts in sorted(tagged.items())
        },
    }


# The one field events are aggregated by, under its names (lower case): 001's `event`, 004's
# `eventType`, and `type`.
AGGREGATED_FIELDS = frozenset({"event", "eventtype", "type"})
ENGAGEMENT = frozenset(UNIQUE_STATS.values())


@command("emailgateway.aggrevents", permission=Permission.MANAGE_DOMAIN)
async def aggregate_events(call: Call) -> dict[str, Any]:
    """Event counts per type (legacy names) for [StartDate, EndDate] (default the last 28 days),
    the largest first, at most AggregateSize buckets. 1: no DomainID; 2: no such domain, or
    another user's; 3: a date not in Y-m-d, or a field other than the event's type to
    aggregate by (`event`; 004 spells it `eventType`)."""
    domain_id = (await owned_domain(call)).id
    field = (call.text("AggregatedField").strip() or "event").lower()
    if field not in AGGREGATED_FIELDS:
        return failed(3, "AggregatedField must be event")
    start, until = _period(call)
    counts = await count_by_type(call.db, domain_id, start, until)
    unique = await count_by_type(call.db, domain_id, start, until, unique=True)
    limit = whole_number(call.get("AggregateSize")) or len(counts)  # none, 0 or junk: all
    buckets = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return {
        "Success": True,
        "ErrorCode": 0,
        "AggBuckets": [
            {
                "key": legacy_name(kind),
                "doc_count": count,
                # Opens and clicks: how many recipients of a message, each counted once.
                **({"unique_count": unique.get(kind, 0)} if kind in ENGAGEMENT else {}),
            }
            for kind, count in buckets
        ],
    }


SPEED_NAMES = {SENT: "Sent", FAILED: "Failed"}  # outcome -> documented Status, in order


def _histogram(speed: OutcomeSpeed | None) -> list[dict[str, Any]]:
    if speed is None:
        return []
    return [
        {
            "DeliveryBucket": bucket.label,
            "EmailCount": bucket.count,
            "Percentage": round(100 * bucket.count / speed.total, 2),
        }
        for bucket in speed.buckets
    ]


@command("emailgateway.recipientdomainstats", permission=Permission.MANAGE_DOMAIN)
async def recipient_domain_stats(call: Call) -> dict[str, Any]:
    """How fast the domain's mail queued in [StartDate, EndDate] (default the last 28 days)
    reached RecipientToDomain: per outcome (Sent: delivered; Failed: bounced or failed) the
    whole seconds from queueing to the outcome, and how many took how long. 1: no DomainID or
    RecipientToDomain; 2: no such domain, or another user's; 3: a date not in Y-m-d."""
    recipient_domain = call.text("RecipientToDomain").strip()
    if not recipient_domain:
        return failed(1, "Missing required parameter (RecipientToDomain)")
    domain_id = (await owned_domain(call)).id
    start, until = _period(call)
    speeds = await delivery_speed(call.db, domain_id, recipient_domain, start, until)
    return {
        "Success": True,
        "ErrorCode": 0,
        "SummaryStats": [
            {
                "Status": name,
                "TotalEmails": speed.total,
                "AvgDeliverySeconds": round(speed.avg_seconds, 2),
                "MinDeliverySeconds": speed.min_seconds,
                "MaxDeliverySeconds": speed.max_seconds,
            }
            for outcome, name in SPEED_NAMES.items()
            if (speed := speeds.get(outcome)) is not None
        ],
        "DeliverySpeedHistogram": {
            name: _histogram(speeds.get(outcome)) for outcome, name in SPEED_NAMES.items()
        },
    }
