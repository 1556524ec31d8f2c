"""`POST /rest/mail` (003): one transactional mail to one subscriber, through the same path as
`/api/v1/email` and SMTP (mta/submission/composition.compose, sender policy, suppressions, sending
limits, DKIM, durable queue). The answer, `{"message_id": ...}`, comes once the message is
committed.

Decisions where 003 is silent:
- `from` empty: `noreply@` the account's oldest Enabled sender domain. `from` must be at (or
  under) an Enabled sender domain of the account (1205 otherwise, also when the account may not
  send at all). `from_name` absent: no display name; given but blank: 1206. `reply_to` absent:
  no Reply-To.
- `encoding`: UTF-8 (default) or ISO-8859-2 (any name Python knows for either, any case); text
  parts, subject and names are written in it. Text ISO-8859-2 cannot represent, or another
  encoding: 1208.
- `attachments`: a link or a list of links (at most 10), fetched over HTTP(S) as webhooks are
  called (public addresses only, no redirects); 0.5 MB (512 KiB) for all of them together.
  Not an http(s) URL, or a host that does not resolve or is not public: 1209; no 2xx answer
  (404, a redirect, unreachable): 1210; over the limit: 1211, found while reading. One limit for
  all: 003 gives one maximum for the "attachments to mail", not one per file.
- `tracking`: 1 tracks links and opens, 0 or absent tracks neither (003: "Select 1 to
  enable"). `domain`, read only when tracking is 1: the name of an Enabled sender domain of the
  account whose tracking host the links use (1212 otherwise).
- `tag`: one tag of at most 128 characters (as /api/v1/email's Tags), printable: 1213 otherwise.
- The rules about the message (the sender domain and its owner, the subscriber's address and
  suppression, size, content) are the submission path's; its refusals are answered through one
  table (`REFUSALS`): 1205 for the sender domain, its account or the From address; 1201 for
  the subscriber's address; 1207 the account's hourly or daily recipient limit; 1251 the
  subscriber suppressed for this account or domain; 1250 the message larger than
  `max_message_size`, or any other fault of the message (and the queue not storing it).
"""

from __future__ import annotations

import codecs
import uuid
from dataclasses import dataclass
from typing import Any

from http_api.context import context
from http_api.message_fields import MAX_TAG_LENGTH
from http_api.metrics import note
from http_api.networks import client_host
from http_api.rest.protocol import UNSUPPORTED_PROTOCOL, RestCall, RestError, action
from mta.campaigns.confirmation_mail import default_sender, noreply_address
from mta.checked_http import HttpOptions, HttpSender
from mta.replies import Reason
from mta.submission.attachment_links import AttachmentLinkError, LinkProblem, fetch_attachments
from mta.submission.composition import (
    Attachment,
    Draft,
    InvalidContent,
    Mailbox,
    UnencodableText,
    checked_address,
    compose,
)
from mta.submission.policy import sender_refusal
from mta.submission.submit import (
    Gateway,
    Origin,
    SubmissionRefused,
    check_sender,
    screen,
    submit,
)
from mta.tracking.rewrite import TrackingRequest
from storage.domains import SenderContext, sender_for_address_domain
from storage.queue import QueueWriteError

SUBSCRIBER = 1201
NO_SUBJECT = 1202
NO_CONTENT = 1203
REPLY_TO = 1204
SENDER = 1205
SENDER_NAME = 1206
DAILY_LIMIT = 1207
ENCODING = 1208
ATTACHMENT_LINK = 1209
ATTACHMENT_MISSING = 1210
ATTACHMENT_SIZE = 1211
REBRANDING = 1212
TAG = 1213
NOT_SENT = 1250
BLOCKED = 1251

ENCODINGS = {"utf-8": "utf-8", "iso8859-2": "iso-8859-2"}  # Python's codec name -> charset
LINK_CODES = {
    LinkProblem.BAD_LINK: ATTACHMENT_LINK,
    LinkProblem.MISSING: ATTACHMENT_MISSING,
    LinkProblem.TOO_LARGE: ATTACHMENT_SIZE,
}
SOURCE = "rest"

_SENDER_ERROR = (SENDER, "Error in sender address")
_NOT_SENT = (NOT_SENT, "System error, mail not sent")
# This action's one table for the submission path's refusals: (003's code, its message).
REFUSALS: dict[Reason, tuple[int, str]] = {
    Reason.SENDER_SYNTAX: _SENDER_ERROR,
    Reason.SENDER_DOMAIN: _SENDER_ERROR,
    Reason.SENDER_ADDRESS: _SENDER_ERROR,
    Reason.DOMAIN_INACTIVE: _SENDER_ERROR,
    Reason.ACCOUNT_UNVERIFIED: _SENDER_ERROR,
    Reason.ACCOUNT_UNTRUSTED: _SENDER_ERROR,
    Reason.ACCOUNT_DISABLED: _SENDER_ERROR,
    Reason.RECIPIENT_SYNTAX: (SUBSCRIBER, "Error in subscriber address"),
    Reason.NO_RECIPIENTS: (SUBSCRIBER, "Error in subscriber address"),
    Reason.SEND_LIMIT: (DAILY_LIMIT, "Daily limit of mails exceeded"),
    Reason.SUPPRESSED: (BLOCKED, "Admin block, mail not sent to particular subscriber"),
    Reason.RECIPIENTS: _NOT_SENT,
    Reason.RELAY_DENIED: _NOT_SENT,
    Reason.SIZE: _NOT_SENT,
    Reason.LOOP: _NOT_SENT,
    Reason.LINE_ENDINGS: _NOT_SENT,
    Reason.HEADERS: _NOT_SENT,
    Reason.FROM_HEADER: _NOT_SENT,
}


def refused(refusal: SubmissionRefused) -> RestError:
    """A submission refusal as this action answers it (`REFUSALS`), its detail appended."""
    code, message = REFUSALS[refusal.reason]
    return RestError(code, f"{message}: {refusal.detail}" if refusal.detail else message)


@dataclass(frozen=True)
class MailRequest:
    subscriber: str
    subject: str
    html: str | None
    text: str | None
    sender: str  # "" for the account's default
    sender_name: str
    reply_to: str
    charset: str
    links: list[str]
    tracking: bool
    domain: str
    tags: list[str]


def _text(call: RestCall, name: str) -> str:
    value = call.param(name)
    return call.text(name) if isinstance(value, str) else ""


def _one_line(value: str) -> bool:
    return not any(char in value for char in "\r\n\0")


def read_request(call: RestCall) -> MailRequest:
    """The request's fields, checked in the order of the documented codes."""
    subscriber, problem = checked_address(_text(call, "subscriber"))
    if subscriber is None:
        raise RestError(SUBSCRIBER, f"Error in subscriber address: {problem}")
    subject = _text(call, "subject")
    if not subject or not _one_line(subject):
        raise RestError(
            NO_SUBJECT, "No email subject" if not subject else "Subject has a line break"
        )
    html, text = (call.param(name) for name in ("html", "text"))
    html = html if isinstance(html, str) and html.strip() else None
    text = text if isinstance(text, str) and text.strip() else None
    if html is None and text is None:
        raise RestError(NO_CONTENT, "No HTML or text content")
    return MailRequest(
        subscriber, subject, html, text,
        sender=_text(call, "from"),
        sender_name=_sender_name(call.param("from_name")),
        reply_to=_reply_to(_text(call, "reply_to")),
        charset=_charset(_text(call, "encoding")),
        links=_links(call.param("attachments")),
        tracking=_tracking(call.param("tracking")),
        domain=_text(call, "domain").lower().rstrip("."),
        tags=_tag(call.param("tag")),
    )  # fmt: skip


def _reply_to(value: str) -> str:
    if not value:
        return ""
    address, problem = checked_address(value)
    if address is None:
        raise RestError(REPLY_TO, f"Error in reply to address: {problem}")
    return address


def _sender_name(value: Any) -> str:
    """Absent: no name. Given: a non-blank line."""
    if value is None:
        return ""
    name = value.strip() if isinstance(value, str) else ""
    if not name or not _one_line(name):
        raise RestError(SENDER_NAME, "Sender name cannot be empty or span lines")
    return name


def _charset(value: str) -> str:
    if not value:
        return "utf-8"
    try:
        charset = ENCODINGS.get(codecs.lookup(value).name)
    except LookupError:
        charset = None
    if charset is None:
        raise RestError(ENCODING, f"Unsupported coding {value!r}: UTF-8 or iso-8859-2")
    return charset


def _links(value: Any) -> list[str]:
    """One link, a list of links, or PHP's `attachments[0]=...` (a dict)."""
    if value is None or value == "":
        return []
    items = list(value.values()) if isinstance(value, dict) else value
    items = items if isinstance(items, list) else [items]
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise RestError(ATTACHMENT_LINK, "Error in attachment link: links must be URLs")
    return [item.strip() for item in items]


def _tracking(value: Any) -> bool:
    text = "" if value is None else str(value).strip().lower()
    if text not in ("", "0", "1", "false", "true"):
        raise RestError(UNSUPPORTED_PROTOCOL, "tracking must be 0 or 1")
    return text in ("1", "true")


def _tag(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    usable = isinstance(value, str | int) and not isinstance(value, bool)
    tag = str(value).strip() if usable else ""
    if not tag or len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
        raise RestError(TAG, f"Error in tag: 1 to {MAX_TAG_LENGTH} printable characters")
    return [tag]


async def _sender(gw: Gateway, user_id: int, address: str) -> tuple[SenderContext, str]:
    """The sender domain the mail goes out from, and the From address."""
    if not address:
        sender = await default_sender(gw, user_id)
        if sender is None:
            raise RestError(SENDER, "Error in sender address: the account has no enabled domain")
        address = noreply_address(sender)
    else:
        checked, problem = checked_address(address)
        if checked is None:
            raise RestError(SENDER, f"Error in sender address: {problem}")
        address = checked
        sender = await sender_for_address_domain(gw.db, address.rpartition("@")[2])
    if sender is None or sender.user_id != user_id:
        raise RestError(SENDER, f"Error in sender address: {address} is not in a domain of yours")
    check_sender(sender, [address])  # as submit will, before attachments are fetched
    return sender, address


async def _rebrand(gw: Gateway, user_id: int, name: str) -> SenderContext | None:
    """The account's Enabled sender domain called `name`, whose tracking host the links use."""
    if not name:
        return None
    found = await sender_for_address_domain(gw.db, name)
    if found is None or found.domain != name or found.user_id != user_id or sender_refusal(found):
        raise RestError(REBRANDING, f"Error in rebranding domain {name!r}: not an active domain")
    return found


async def _attachments(settings: Any, links: list[str]) -> list[Attachment]:
    if not links:
        return []
    http = HttpSender(HttpOptions(settings.nameservers, settings.allow_private_targets))
    try:
        return await fetch_attachments(http, links)
    except AttachmentLinkError as error:
        raise RestError(LINK_CODES[error.problem], f"Attachment: {error}") from None
    finally:
        await http.close()


def _composed(draft: Draft) -> bytes:
    try:
        return compose(draft)
    except UnencodableText as error:
        raise RestError(ENCODING, f"Unsupported coding: {error}") from None
    except InvalidContent as error:
        raise RestError(NOT_SENT, f"System error, mail not sent: {error}") from None


@action("mail")
async def send_mail(call: RestCall) -> dict[str, str]:
    gw: Gateway = context(call.request).gateway
    mail = read_request(call)
    try:
        queue_id = await _send(call, gw, mail)
    except SubmissionRefused as refusal:
        raise refused(refusal) from None
    except QueueWriteError:
        raise RestError(
            NOT_SENT, "System error, mail not sent: not stored, try again", 503
        ) from None
    note(call.request, message_id=str(queue_id))
    return {"message_id": str(queue_id)}


async def _send(call: RestCall, gw: Gateway, mail: MailRequest) -> uuid.UUID:
    user_id = call.account.user_id
    sender, address = await _sender(gw, user_id, mail.sender)
    rebrand = await _rebrand(gw, user_id, mail.domain) if mail.tracking else None
    recipients = await screen(gw, sender, [mail.subscriber])
    draft = Draft(
        sender=Mailbox(address, mail.sender_name),
        subject=mail.subject,
        to=[Mailbox(mail.subscriber)],
        reply_to=[Mailbox(mail.reply_to)] if mail.reply_to else [],
        html=mail.html,
        plain=mail.text,
        attachments=await _attachments(context(call.request).settings, mail.links),
        charset=mail.charset,
    )
    client = client_host(call.request)
    return await submit(
        gw, sender, address, recipients, _composed(draft), Origin("rest", client, "HTTP"),
        source=SOURCE, tags=mail.tags,
        tracking=TrackingRequest(mail.tracking, mail.tracking, rebrand),
    )  # fmt: skip
