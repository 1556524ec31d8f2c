"""`POST /api/v1/email`: a message described in JSON, built into MIME and submitted through the
same path as SMTP (sender policy, suppression, sending limits, headers, DKIM, durable queue).
The answer, `{"MessageID": ...}`, comes once the message is committed.

Errors use the /api/v1 shape and 001's codes. The request is read here; every rule about the
message (sender domain and its owner, the From address, recipients and their count,
suppression, size, content) is the submission path's, whose refusals this route answers through
one table (`REFUSALS`). Request faults that no documented code covers (a malformed attachment,
a forbidden header, a message over the size limit) answer code 0 with a message that names the
fault. Templates and journeys do not exist in Mailgate yet, so
`TemplateID`, `JourneyID` and `ActionID` name nothing and answer their documented "invalid"
codes (15, 37, 38).

Lists and subscribers are those of `/rest` (their numeric ids, as `/rest/subscribers_list/lists`
shows them): `TargetListID` must be a list of the domain's owner (else 16) and adds its active
subscribers to the recipients (To becomes optional; without To or Cc the header says
`undisclosed-recipients:;`, and each recipient of a tracked message gets a copy of its own); the
list counts against the recipient limit of one message, a larger send being a campaign's work.
`ListID` must be the owner's list (35), `SubscriberID` the owner's subscriber, on `ListID` when
both are given (36).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from http_api.context import context
from http_api.message_fields import MAX_TAG_LENGTH
from http_api.metrics import note
from http_api.networks import client_host
from http_api.params import message_body_limit
from http_api.v1_dispatch import V1Call, V1Route
from http_api.v1_envelope import V1Error
from mta.replies import Reason
from mta.submission.composition import (
    Attachment,
    Draft,
    InvalidContent,
    Mailbox,
    check_header,
    checked_address,
    compose,
    unique_addresses,
)
from mta.submission.submit import (
    Gateway,
    Origin,
    SubmissionRefused,
    screen,
    sender_by_domain_id,
    submit,
)
from mta.tracking.rewrite import TrackingRequest
from storage.queue import QueueWriteError
from storage.subscribers import active_emails, owns_list, subscriber_list_of

REPLY_TO_LIMIT = 10
MAX_SCHEDULE_SECONDS = 3 * 24 * 3600  # as far ahead as SendAt may be (Mailgun allows 3 days)
# Parameters naming objects Mailgate does not have yet, with their "invalid" code.
UNKNOWN_OBJECTS = {
    "templateid": (15, "Invalid TemplateID"),
    "journeyid": (37, "Invalid JourneyID"),
    "actionid": (38, "Invalid ActionID"),
}
TARGET_LIST_INVALID = (16, "Invalid TargetListID")
LIST_INVALID = (35, "Invalid ListID")
SUBSCRIBER_INVALID = (36, "Invalid SubscriberID")
# This route's one table for the submission path's refusals: (001's code, message, HTTP status);
# code 0 where 001 has none. A message built from JSON fields cannot carry some faults (bare
# line endings, a malformed header); they have an answer all the same.
REFUSALS: dict[Reason, tuple[int, str, int]] = {
    Reason.SENDER_DOMAIN: (2, "Invalid DomainID or invalid user account", 403),
    Reason.ACCOUNT_UNTRUSTED: (2, "Invalid user account: not trusted to send", 403),
    Reason.SENDER_ADDRESS: (3, "From parameter is missing or invalid", 400),
    Reason.SENDER_SYNTAX: (23, "Invalid from email address format", 400),
    Reason.ACCOUNT_DISABLED: (12, "Invalid or deactivated user account", 403),
    Reason.DOMAIN_INACTIVE: (32, "Domain is not activated", 403),
    Reason.ACCOUNT_UNVERIFIED: (34, "User account is not verified", 403),
    Reason.SEND_LIMIT: (17, "Email sending limit reached", 403),
    Reason.SUPPRESSED: (
        14,
        "Email address is in the suppression list. Email delivery is blocked.",
        422,
    ),
    Reason.RECIPIENT_SYNTAX: (19, "Recipient email address is invalid", 400),
    Reason.RECIPIENTS: (20, "Recipient count exceeds the limit", 400),
    Reason.NO_RECIPIENTS: (20, "There is no recipient set for the email", 400),
    Reason.RELAY_DENIED: (0, "Relay access denied", 403),
    Reason.SIZE: (0, "The message exceeds the size limit", 413),
    Reason.LOOP: (0, "Too many Received headers: mail loop suspected", 400),
    Reason.LINE_ENDINGS: (0, "A bare CR or LF line ending in the message", 400),
    Reason.HEADERS: (0, "A header of the message is malformed", 400),
    Reason.FROM_HEADER: (0, "The message has no From header with an address", 400),
}


class Invalid(V1Error):
    """A fault of the request, answered in /api/v1's envelope by the dispatcher."""


@dataclass(frozen=True)
class AddressRules:
    """How one address list is checked, and the codes its faults answer with."""

    label: str
    missing: int
    invalid: int
    not_array: int | None = None  # None: a single object is taken as a list of one
    too_many: int | None = None


TO = AddressRules("Recipient", missing=18, invalid=19, too_many=20)
CC = AddressRules("CC", missing=21, invalid=22, too_many=20)
BCC = AddressRules("BCC", missing=25, invalid=26, not_array=24, too_many=27)
REPLY_TO = AddressRules("Reply-To", missing=29, invalid=30, not_array=28, too_many=31)


def _get(obj: Mapping[str, Any], name: str) -> Any:
    """A field of a nested object, its name matched without case like the top-level ones."""
    for key, value in obj.items():
        if str(key).lower() == name:
            return value
    return None


def valid_address(text: str, code: int, label: str) -> str:
    """The address normalised (IDN domains in their ASCII form), or Invalid(code)."""
    normalized, problem = checked_address(text)
    if normalized is None:
        raise Invalid(code, f"{label} email address is invalid: {problem}")
    return normalized


def mailbox(value: Any, rules: AddressRules) -> Mailbox:
    address = _get(value, "email") if isinstance(value, Mapping) else None
    if not isinstance(address, str) or not address.strip():
        raise Invalid(rules.missing, f"{rules.label} name or email address is missing")
    name = _get(value, "name")
    return Mailbox(valid_address(address.strip(), rules.invalid, rules.label), str(name or ""))


def mailboxes(value: Any, rules: AddressRules, limit: int) -> list[Mailbox]:
    if value is None or value == "":
        return []
    if isinstance(value, Mapping) and rules.not_array is None:
        value = [value]
    if not isinstance(value, list):
        code = rules.not_array if rules.not_array is not None else rules.missing
        raise Invalid(code, f"{rules.label} email addresses must be set as an array")
    if rules.too_many is not None and len(value) > limit:
        raise Invalid(rules.too_many, f"{rules.label} count exceeds the limit of {limit}")
    return [mailbox(item, rules) for item in value]


def _flag(params: dict[str, Any], name: str) -> bool | None:
    """A true/false parameter; None when it is not given (the domain's setting applies)."""
    value = params.get(name)
    text = "" if value is None else str(value).strip().lower()
    if text not in ("true", "false", "1", "0", ""):
        raise Invalid(0, f"{name} must be true or false")
    return None if text == "" else text in ("true", "1")


@dataclass(frozen=True)
class References:
    """The request's lists and subscriber, by id, to be checked against the owner's."""

    target_list: int | None = None
    list_id: int | None = None
    subscriber: int | None = None


@dataclass(frozen=True)
class EmailRequest:
    draft: Draft
    tags: list[str]
    send_at: datetime | None
    tracking: TrackingRequest
    references: References = References()


def _reference(params: dict[str, Any], name: str, code: int, message: str) -> int | None:
    value = params.get(name)
    if value in (None, "", 0, "0"):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(code, message) from None
    if number <= 0 or isinstance(value, bool | float):
        raise Invalid(code, message)
    return number


def read_request(params: dict[str, Any], max_recipients: int, max_size: int) -> EmailRequest:
    """The request's fields checked in the order of the documented codes."""
    for name, (code, message) in UNKNOWN_OBJECTS.items():
        if params.get(name) not in (None, "", 0, "0"):
            raise Invalid(code, message)
    sender_value = params.get("from")
    if not isinstance(sender_value, Mapping) or not _get(sender_value, "email"):
        raise Invalid(3, "From parameter is missing or invalid")
    sender = mailbox(sender_value, AddressRules("From", missing=3, invalid=23))
    subject = params.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise Invalid(8, "Missing Subject")
    references = References(
        target_list=_reference(params, "targetlistid", *TARGET_LIST_INVALID),
        list_id=_reference(params, "listid", *LIST_INVALID),
        subscriber=_reference(params, "subscriberid", *SUBSCRIBER_INVALID),
    )
    if params.get("to") is None and references.target_list is None:
        raise Invalid(8, "Missing To email address")
    content_type = str(params.get("contenttype") or "").strip().lower()
    if not content_type:
        raise Invalid(9, "Missing ContentType")
    if content_type not in ("html", "plain"):
        raise Invalid(9, "ContentType must be html or plain")
    html, plain = params.get("htmlcontent"), params.get("plaincontent")
    if content_type == "html" and not (isinstance(html, str) and html):
        raise Invalid(10, "Missing HTMLContent")
    if content_type == "plain" and not (isinstance(plain, str) and plain):
        raise Invalid(11, "Missing PlainContent")
    to = mailboxes(params.get("to"), TO, max_recipients)
    if not to and references.target_list is None:
        raise Invalid(20, "There is no recipient set for the email")
    cc = mailboxes(params.get("cc"), CC, max_recipients)
    bcc = mailboxes(params.get("bcc"), BCC, max_recipients)
    reply_to = mailboxes(params.get("replyto"), REPLY_TO, REPLY_TO_LIMIT)  # 10 bounds them
    tracking = TrackingRequest(links=_flag(params, "tracklinks"), opens=_flag(params, "trackopens"))
    draft = Draft(
        sender=sender,
        subject=subject.strip(),
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        html=html if content_type == "html" else None,
        plain=plain if isinstance(plain, str) and plain else None,
        attachments=attachments(params.get("attachments"), max_size),
        headers=headers(params.get("headers")),
    )
    return EmailRequest(
        draft, tags(params.get("tags")), send_at(params.get("sendat")), tracking, references
    )


def attachments(value: Any, max_size: int) -> list[Attachment]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise Invalid(0, "Attachments must be an array")
    found, total = [], 0
    for item in value:
        if not isinstance(item, Mapping):
            raise Invalid(0, "each attachment must be an object")
        filename, content = _get(item, "filename"), _get(item, "content")
        if not isinstance(filename, str) or not filename.strip():
            raise Invalid(0, "an attachment has no filename")
        if not isinstance(content, str):
            raise Invalid(0, f"attachment {filename!r} has no base64 content")
        total += len(content) * 3 // 4
        if total > max_size:
            raise Invalid(0, f"attachments exceed the message size limit of {max_size} bytes", 413)
        try:
            data = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            raise Invalid(0, f"attachment {filename!r}: content is not valid base64") from None
        disposition = str(_get(item, "disposition") or "attachment").strip().lower()
        if disposition not in ("attachment", "inline"):
            raise Invalid(0, f"attachment {filename!r}: disposition must be attachment or inline")
        found.append(
            Attachment(
                filename=filename,
                content=data,
                content_type=str(_get(item, "type") or ""),
                inline=disposition == "inline",
                content_id=str(_get(item, "contentid") or ""),
            )
        )
    return found


def headers(value: Any) -> list[tuple[str, str]]:
    if value is None or value == "":
        return []
    if not isinstance(value, Mapping):
        raise Invalid(0, "Headers must be an object of name: value")
    try:
        return [check_header(str(name), str(text)) for name, text in value.items()]
    except InvalidContent as error:
        raise Invalid(0, str(error)) from None


def tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in items:
        if (
            not isinstance(item, str | int)
            or not str(item).strip()
            or len(str(item)) > MAX_TAG_LENGTH
        ):
            raise Invalid(0, f"Tags must be strings of 1 to {MAX_TAG_LENGTH} characters")
        if str(item).strip() not in found:
            found.append(str(item).strip())
    return found


def send_at(value: Any) -> datetime | None:
    if value is None or value == "" or value == 0:
        return None
    try:
        when = int(value)
    except (TypeError, ValueError):
        raise Invalid(0, "SendAt must be a Unix timestamp") from None
    now = time.time()
    if when - now > MAX_SCHEDULE_SECONDS:
        raise Invalid(0, f"SendAt may be at most {MAX_SCHEDULE_SECONDS // 3600} hours ahead")
    return datetime.fromtimestamp(when, UTC) if when > now else None


def refused(refusal: SubmissionRefused) -> Invalid:
    """A submission refusal as this route answers it (`REFUSALS`), its detail appended."""
    code, message, status = REFUSALS[refusal.reason]
    detail = f"{message}: {refusal.detail}" if refusal.detail else message
    return Invalid(code, detail, status)


async def referenced_recipients(gw: Gateway, user_id: int, mail: EmailRequest) -> list[str]:
    """Check the request's lists and subscriber against the owner's; the target list's active
    subscribers, who count against the recipient limit with the others."""
    found = mail.references
    if found.list_id is not None and not await owns_list(gw.db, user_id, found.list_id):
        raise Invalid(*LIST_INVALID)
    if found.subscriber is not None:
        on_list = await subscriber_list_of(gw.db, user_id, found.subscriber)
        if on_list is None or found.list_id not in (None, on_list):
            raise Invalid(*SUBSCRIBER_INVALID)
    if found.target_list is None:
        return []
    if not await owns_list(gw.db, user_id, found.target_list):
        raise Invalid(*TARGET_LIST_INVALID)
    room = gw.max_recipients - len(mail.draft.recipients())
    listed = await active_emails(gw.db, found.target_list, room + 1)  # bounded: room + 1 rows
    if len(listed) > room:
        limit = gw.max_recipients
        raise Invalid(20, f"Recipient count exceeds the limit of {limit}: send a campaign")
    return listed  # none at all is the submission path's refusal (20)


async def _send(call: V1Call) -> dict[str, Any]:
    gateway: Gateway = context(call.request).gateway
    mail = read_request(call.params, gateway.max_recipients, gateway.max_message_size)
    address = mail.draft.sender.address
    try:
        sender = await sender_by_domain_id(gateway, call.domain, address)
        listed = await referenced_recipients(gateway, sender.user_id, mail)
        addresses = unique_addresses([*mail.draft.recipients(), *listed])
        recipients = await screen(gateway, sender, addresses)
        try:
            content = compose(mail.draft)
        except InvalidContent as error:
            raise Invalid(0, str(error)) from None
        client = client_host(call.request)
        queue_id = await submit(
            gateway,
            sender,
            address,
            recipients,
            content,
            Origin(helo="api", client_ip=client, protocol="HTTP"),
            source="api",
            tags=mail.tags,
            send_at=mail.send_at,
            tracking=mail.tracking,
        )
    except SubmissionRefused as refusal:
        raise refused(refusal) from None
    except QueueWriteError:
        raise Invalid(0, "Temporary failure storing the message; try again", 503) from None
    note(call.request, message_id=str(queue_id))
    answer: dict[str, Any] = {"MessageID": str(queue_id)}
    if recipients.suppressed:
        answer["SuppressedRecipients"] = recipients.suppressed
    return answer


# The body may carry a whole message once the key is known (64 KB before); the sender domain's
# account is the submission path's to judge (its refusals answer through REFUSALS).
ROUTE = V1Route(_send, body_limit=lambda s: message_body_limit(s.max_message_size), inactive=None)
endpoint = ROUTE.endpoint
