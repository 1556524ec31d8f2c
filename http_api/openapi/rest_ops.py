"""The data of each `/rest` action, as 003 documents it. The access path is written in 003's
spelling (the registry keeps it lower-cased; paths are matched in any case); `{name}` parts are
the path's parameters after the action."""

from __future__ import annotations

from dataclasses import dataclass

from http_api.openapi.schemas import (
    Param,
    Schema,
    array,
    email,
    flag,
    integer,
    one_of_values,
    text,
)


@dataclass(frozen=True)
class ActionDoc:
    path: str  # e.g. "/rest/subscriber/get/{list}/{email}"
    summary: str
    params: tuple[Param, ...] = ()  # the POST data
    errors: str = ""


HASH = text(64, 1, pattern="^[A-Za-z0-9]+$")
LIST = Param("list", HASH, True, "Hash of the subscriber list")
STATE = Param("state", integer(1, 8), description="1 active, 2 awaiting activation, 3 ... 8")
FIELDS: Schema = {
    "type": "object",
    "maxProperties": 20,
    "additionalProperties": text(1000),
}
SUBSCRIBER: Schema = {
    "type": "object",
    "required": ["email"],
    "properties": {"email": email(), "custom_fields": FIELDS},
}
EMAILS = array({"type": "object", "required": ["email"], "properties": {"email": email()}}, 100, 1)
CONTENT = (
    Param("html", text(100_000)),
    Param("text", text(100_000)),
    Param("from", email()),
    Param("from_name", text(255)),
    Param("reply_to", email()),
)
CAMPAIGN = (
    Param("url", text(2048, pattern="^https?://")),
    *CONTENT[:2],
    Param("subject", text(998)),
    Param("from_address", email()),
    *CONTENT[3:],
    Param("list", HASH),
    Param("group", HASH),
    Param("resignlink", text(2048, pattern="^https?://")),
)

ACTIONS: dict[tuple[str, str], ActionDoc] = {
    ("ping", ""): ActionDoc("/rest/ping", "GET answers pong; POST echoes its data"),
    ("mail", ""): ActionDoc(
        "/rest/mail",
        "Send one transactional message",
        (
            Param("subscriber", email(), True),
            Param("subject", text(998, 1), True),
            *CONTENT,
            Param("encoding", one_of_values("UTF-8", "ISO-8859-2")),
            Param("attachments", array({"type": "object"}, 10)),
            Param("tracking", flag()),
            Param("domain", text(253)),
            Param("tag", text(64)),
        ),
    ),
    ("sms", ""): ActionDoc(
        "/rest/sms",
        "Send an SMS",
        (
            Param("gsm", text(16, 1, pattern="^[0-9+]+$"), True),
            Param("text", text(640, 1), True),
            Param("from", text(11)),
        ),
    ),
    ("spam_test", "check"): ActionDoc(
        "/rest/spam_test/check",
        "Score a message with SpamAssassin",
        (Param("subject", text(998, 1), True), *CONTENT[:4]),
    ),
    ("account", "create"): ActionDoc(
        "/rest/account/create",
        "Create an account (a sub-account by default)",
        (
            Param("login", email(), True),
            Param("password", text(128, 8), True),
            Param("firstname", text(64, 1), True),
            Param("lastname", text(64, 1), True),
            Param("company", text(128)),
            Param("phone", text(32, 1), True),
            Param("activation_mail", flag()),
            Param("activation", flag()),
            Param("child_account", flag()),
        ),
    ),
    ("subscriber", "add"): ActionDoc(
        "/rest/subscriber/add",
        "Add a subscriber to a list",
        (
            Param("email", email(), True),
            LIST,
            STATE,
            Param("confirm", flag()),
            Param("custom_fields", FIELDS),
        ),
    ),
    ("subscriber", "edit"): ActionDoc(
        "/rest/subscriber/edit",
        "Change a subscriber",
        (Param("email", email(), True), LIST, STATE, Param("custom_fields", FIELDS)),
    ),
    ("subscriber", "get"): ActionDoc(
        "/rest/subscriber/get/{list}/{email}", "A subscriber of a list"
    ),
    ("subscriber", "delete"): ActionDoc(
        "/rest/subscriber/delete", "Remove a subscriber", (Param("email", email(), True), LIST)
    ),
    ("subscriber", "gethistory"): ActionDoc(
        "/rest/subscriber/getHistory",
        "A subscriber's campaign history",
        (Param("email", email(), True), LIST, Param("limit", integer(1, 1000))),
    ),
    ("subscriber", "addmultiple"): ActionDoc(
        "/rest/subscriber/addMultiple",
        "Add several subscribers",
        (
            Param("subscribers", array(SUBSCRIBER, 100, 1), True),
            LIST,
            STATE,
            Param("confirm", flag()),
        ),
    ),
    ("subscriber", "editmultiple"): ActionDoc(
        "/rest/subscriber/editMultiple",
        "Change several subscribers",
        (Param("subscribers", array(SUBSCRIBER, 100, 1), True), LIST, STATE),
    ),
    ("subscriber", "getmultiple"): ActionDoc(
        "/rest/subscriber/getMultiple",
        "Several subscribers of a list",
        (Param("subscribers", EMAILS, True), LIST),
    ),
    ("subscriber", "deletemultiple"): ActionDoc(
        "/rest/subscriber/deleteMultiple",
        "Remove several subscribers",
        (Param("subscribers", EMAILS, True), LIST),
    ),
    ("subscriber", "updatefieldvalue"): ActionDoc(
        "/rest/subscriber/updateFieldValue",
        "Set a custom field of every subscriber of a list",
        (
            Param("listHash", HASH, True),
            Param("tag", text(64, 1), True),
            Param("value", text(1000), True),
            Param("url", text(2048, 1, pattern="^https?://"), True),
        ),
    ),
    ("subscriber", "addblocks"): ActionDoc(
        "/rest/subscriber/addBlocks",
        "Block addresses",
        (Param("emails", array(email(), 100, 1), True),),
    ),
    ("subscriber", "removeblocks"): ActionDoc(
        "/rest/subscriber/removeBlocks",
        "Unblock addresses",
        (Param("emails", array(email(), 100, 1), True),),
    ),
    ("subscribers_list", "create"): ActionDoc(
        "/rest/subscribers_list/create",
        "Create a subscriber list",
        (
            Param("name", text(255, 1), True),
            Param("description", text(1000)),
            Param("custom_fields", array({"type": "object"}, 20)),
        ),
    ),
    ("subscribers_list", "update"): ActionDoc(
        "/rest/subscribers_list/update",
        "Rename a subscriber list",
        (
            Param("hash", HASH, True),
            Param("name", text(255, 1), True),
            Param("description", text(1000)),
        ),
    ),
    ("subscribers_list", "delete"): ActionDoc(
        "/rest/subscribers_list/delete", "Delete a subscriber list", (Param("hash", HASH, True),)
    ),
    ("subscribers_list", "lists"): ActionDoc("/rest/subscribers_list/lists", "The lists"),
    ("subscribers_list", "addfield"): ActionDoc(
        "/rest/subscribers_list/addField",
        "Add a custom field to a list",
        (
            Param("hash", HASH, True),
            Param("name", text(255, 1), True),
            Param("tag", text(64)),
            Param("type", integer(0, 1)),
        ),
    ),
    ("subscribers_list", "getfields"): ActionDoc(
        "/rest/subscribers_list/getFields", "A list's custom fields", (Param("hash", HASH, True),)
    ),
    ("campaigns", "create"): ActionDoc(
        "/rest/campaigns/create",
        "Create a campaign",
        (Param("name", text(255, 1), True), *CAMPAIGN),
    ),
    ("campaigns", "edit"): ActionDoc(
        "/rest/campaigns/edit",
        "Change a campaign",
        (Param("id_hash", HASH, True), Param("name", text(255, 1)), *CAMPAIGN),
    ),
    ("campaigns", "delete"): ActionDoc(
        "/rest/campaigns/delete", "Delete a campaign", (Param("hash", HASH, True),)
    ),
    ("campaigns", "sendtest"): ActionDoc(
        "/rest/campaigns/sendTest",
        "Send test copies of a campaign",
        (
            Param("hash", HASH, True),
            Param("emails", array(email(), 10, 1), True),
            Param("custom_fields", FIELDS),
        ),
    ),
    ("campaigns", "send"): ActionDoc(
        "/rest/campaigns/send",
        "Send a campaign (now, or at `time`)",
        (Param("hash", HASH, True), Param("time", text(19, description="YYYY-MM-DD H:i:s"))),
    ),
    ("reports", "campaignslist"): ActionDoc(
        "/rest/reports/campaignsList/{page}", "Sent campaigns, a page at a time"
    ),
    ("reports", "campaign"): ActionDoc("/rest/reports/campaign/{id_hash}", "A campaign's report"),
    ("reports", "campaigntimedetails"): ActionDoc(
        "/rest/reports/campaignTimeDetails/{id_hash}", "A campaign's report by hour"
    ),
}

PATH_PARAMS: dict[str, Schema] = {
    "list": HASH,
    "email": email(),
    "page": integer(1, 100_000),
    "id_hash": HASH,
}
