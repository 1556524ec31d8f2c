"""The `/api/v1` routes as 001 documents them: per route and method, the parameters, the
success answer and who may call it (a sender domain's API key, or the gateway's admin key)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from http_api.openapi.schemas import (
    Param,
    Schema,
    answer,
    array,
    email,
    ident,
    integer,
    one_of_values,
    text,
)


class Key(enum.Enum):
    SENDER = "sender"  # a sender domain's API key (Bearer, or SenderAPIKey)
    ADMIN = "admin"  # the gateway's admin key (Bearer, or AdminAPIKey)


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    key: Key
    params: tuple[Param, ...]
    success: Schema
    statuses: tuple[int, ...]  # the error statuses the route answers, each with its envelope


MAILBOX: Schema = {
    "type": "object",
    "required": ["Email"],
    "properties": {"Email": email(), "Name": text(255)},
}
MAILBOXES = array(MAILBOX, 50)
WEBHOOK_EVENT = one_of_values(
    "delivered", "bounced", "opened", "clicked", "unsubscribed", "complained", "deferred"
)
EVENT_QUERY = (
    Param("StartFrom", integer(0, 2**31 - 1)),
    Param("RetrieveCount", integer(1, 1000)),
    Param("StartDate", integer(0, 2**40)),
    Param("EndDate", integer(0, 2**40)),
    Param("Event", one_of_values(*WEBHOOK_EVENT["enum"], "sent", "failed")),
    Param("MessageID", text(64)),
)
EMAIL = (
    Param("Subject", text(998, 1), True),
    Param("ContentType", one_of_values("html", "plain", "both"), True),
    Param("HTMLContent", text(100_000)),
    Param("PlainContent", text(100_000)),
    Param("From", MAILBOX, True),
    Param("To", array(MAILBOX, 50, 1), True),
    Param("CC", MAILBOXES),
    Param("BCC", MAILBOXES),
    Param("ReplyTo", array(MAILBOX, 5)),
    Param("Tags", array(text(64, 1), 10)),
    Param("Headers", {"type": "object", "maxProperties": 20, "additionalProperties": text(998)}),
    Param("TrackLinks", one_of_values("true", "false")),
    Param("TrackOpens", one_of_values("true", "false")),
    Param("SendAt", integer(0, 2**40)),
)
SUPPRESSION_QUERY = (
    Param("StartFrom", integer(0, 2**31 - 1)),
    Param("RetrieveCount", integer(1, 1000)),
    Param("Address", text(254)),
    Param("Reason", text(64)),
)
SUPPRESSION = answer(
    "Address",
    "Reason",
    "Category",
    "Source",
    "SuppressedAt",
    Address={"type": "string"},
    Reason={"type": "string"},
    Category={"type": "string", "description": "the bounce's PowerMTA category, or empty"},
    Source={"type": "string"},
    SuppressedAt={"type": "string", "description": "UTC, 2021-04-01T12:00:00Z"},
)
ACCEPTED = answer("MessageID", MessageID={"type": "string"})

ROUTES: dict[tuple[str, str], RouteDoc] = {
    ("/api/v1/email", "POST"): RouteDoc(
        "Send one message", Key.SENDER, EMAIL, ACCEPTED, (400, 401, 403, 413, 429, 503)
    ),
    ("/api/v1/webhooks", "POST"): RouteDoc(
        "Add a webhook to the key's domain",
        Key.SENDER,
        (Param("Event", WEBHOOK_EVENT, True), Param("WebhookURL", text(2048, 1), True)),
        answer("NewWebhookID"),
        (400, 401, 403, 429),
    ),
    ("/api/v1/webhooks", "GET"): RouteDoc(
        "The key's domain's webhooks",
        Key.SENDER,
        (),
        answer("Webhooks", Webhooks={"type": "array"}),
        (400, 401, 403, 429),
    ),
    ("/api/v1/webhooks", "DELETE"): RouteDoc(
        "Remove a webhook",
        Key.SENDER,
        (Param("WebhookID", ident(), True),),
        {"type": "object"},
        (400, 401, 403, 404, 429),
    ),
    ("/api/v1/suppressions", "GET"): RouteDoc(
        "The suppression list of the key's domain's account, newest first",
        Key.SENDER,
        SUPPRESSION_QUERY,
        answer("TotalRecords", "Suppressions", Suppressions=array(SUPPRESSION, 100)),
        (400, 401, 403, 429),
    ),
    ("/api/v1/suppressions", "DELETE"): RouteDoc(
        "Take an address off the account's suppression list",
        Key.SENDER,
        (Param("Address", text(254, 1), True),),
        answer("Removed"),
        (400, 401, 403, 404, 429),
    ),
    ("/api/v1/events", "GET"): RouteDoc(
        "The key's domain's events",
        Key.SENDER,
        EVENT_QUERY,
        answer("TotalRecords", "Events", Events={"type": "array"}),
        (400, 401, 403, 429),
    ),
    ("/api/v1/events", "POST"): RouteDoc(
        "The key's domain's events",
        Key.SENDER,
        EVENT_QUERY,
        answer("TotalRecords", "Events", Events={"type": "array"}),
        (400, 401, 403, 429),
    ),
    ("/api/v1/sender.domains", "GET"): RouteDoc(
        "Enabled sender domains, for PowerMTA",
        Key.ADMIN,
        (Param("DomainsResponseFormat", one_of_values("json", "powermta")),),
        answer("Success", "Domains"),
        (400, 401, 403, 429),
    ),
    ("/api/v1/sender.domains", "POST"): RouteDoc(
        "Enabled sender domains, for PowerMTA",
        Key.ADMIN,
        (Param("DomainsResponseFormat", one_of_values("json", "powermta")),),
        answer("Success", "Domains"),
        (400, 401, 403, 429),
    ),
    ("/api/v1/inbound-relay-domain-check", "GET"): RouteDoc(
        "May an MX relay mail for this domain? (500 {} means no, as 001 documents)",
        Key.ADMIN,
        (Param("Domain", text(253, 1), True),),
        answer("Success", "RelayDomain"),
        (400, 403, 429),
    ),
    ("/api/v1/inbound-relay-domain-check", "POST"): RouteDoc(
        "May an MX relay mail for this domain? (500 {} means no, as 001 documents)",
        Key.ADMIN,
        (Param("Domain", text(253, 1), True),),
        answer("Success", "RelayDomain"),
        (400, 403, 429),
    ),
}
