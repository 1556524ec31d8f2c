"""Building a MIME message from the fields of an API request (`/api/v1/email`).

The standard library's `EmailMessage` does the MIME work: RFC 2047 encoded words for non-ASCII
names and subjects, RFC 2231 filenames, a transfer encoding chosen per part, CRLF line endings
and 78-column folding. It also refuses a header value with CR or LF in it, which is what keeps a
caller's `Headers` from injecting fields; names are checked here. Message-ID and Date are left to
the submission path, which adds them to every message whatever its origin.
"""

from __future__ import annotations

import email.policy
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage

# RFC 5322 3.6.8: a field name is printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]{1,76}")

# Fields the request sets through its own parameters, or that only Mailgate may write.
RESERVED_FIELDS = frozenset(
    name.lower()
    for name in (
        "From", "Sender", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
        "Content-ID", "Received", "Return-Path", "DKIM-Signature", "ARC-Seal",
        "ARC-Message-Signature", "ARC-Authentication-Results", "Authentication-Results",
    )
)  # fmt: skip


class InvalidContent(ValueError):
    """A request field that cannot become part of a message; the text says which and why."""


@dataclass(frozen=True)
class Mailbox:
    address: str  # already validated and normalised
    name: str = ""

    def header(self) -> Address:
        local, _, domain = self.address.rpartition("@")
        return Address(display_name=self.name, username=local, domain=domain)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = ""  # guessed from the filename when empty
    inline: bool = False
    content_id: str = ""

    def mime_type(self) -> tuple[str, str]:
        kind = self.content_type or mimetypes.guess_type(self.filename)[0]
        kind = kind or "application/octet-stream"
        maintype, slash, subtype = kind.strip().lower().partition("/")
        if not slash or not _FIELD_NAME.fullmatch(maintype) or not _FIELD_NAME.fullmatch(subtype):
            raise InvalidContent(f"attachment {self.filename!r}: invalid type {kind!r}")
        return maintype, subtype


@dataclass(frozen=True)
class Draft:
    """Everything a message is made of; recipients in `bcc` get no header."""

    sender: Mailbox
    subject: str
    to: Sequence[Mailbox] = ()
    cc: Sequence[Mailbox] = ()
    bcc: Sequence[Mailbox] = ()
    reply_to: Sequence[Mailbox] = ()
    html: str | None = None
    plain: str | None = None
    attachments: Sequence[Attachment] = ()
    headers: Sequence[tuple[str, str]] = field(default_factory=tuple)

    def recipients(self) -> list[str]:
        """Envelope recipients: To, Cc and Bcc, each address once (compared without case)."""
        seen: dict[str, str] = {}
        for mailbox in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(mailbox.address.lower(), mailbox.address)
        return list(seen.values())

    def needs_smtputf8(self) -> bool:
        return any(not m.address.isascii() for m in (self.sender, *self.to, *self.cc))


def check_header(name: str, value: str) -> tuple[str, str]:
    if not _FIELD_NAME.fullmatch(name):
        raise InvalidContent(f"header name {name!r} is not a valid field name")
    if name.lower() in RESERVED_FIELDS:
        raise InvalidContent(f"header {name} is set from the request's own fields, not Headers")
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidContent(f"header {name} has a line break or NUL in its value")
    return name, value


def _clean_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or any(ch in base for ch in "\r\n\0"):
        raise InvalidContent(f"attachment filename {name!r} is not usable")
    return base


def compose(draft: Draft) -> bytes:
    """The message as CRLF bytes, ready for the submission path."""
    message = EmailMessage(policy=email.policy.default)
    message["From"] = draft.sender.header()
    for header, mailboxes in (("To", draft.to), ("Cc", draft.cc), ("Reply-To", draft.reply_to)):
        if mailboxes:
            message[header] = [m.header() for m in mailboxes]
    message["Subject"] = draft.subject
    for name, value in draft.headers:
        message[name] = value
    _set_body(message, draft)
    policy = email.policy.SMTPUTF8 if draft.needs_smtputf8() else email.policy.SMTP
    return message.as_bytes(policy=policy)


def _set_body(message: EmailMessage, draft: Draft) -> None:
    if draft.plain is not None:
        message.set_content(draft.plain)
        if draft.html is not None:
            message.add_alternative(draft.html, subtype="html")
    elif draft.html is not None:
        message.set_content(draft.html, subtype="html")
    else:
        message.set_content("")
    # Inline parts with a Content-ID go next to the HTML that refers to them (multipart/related);
    # they are placed before any attachment turns the message into multipart/mixed.
    related = [a for a in draft.attachments if a.inline and a.content_id and draft.html is not None]
    for attachment in related:
        maintype, subtype = attachment.mime_type()
        _html_holder(message).add_related(
            attachment.content, maintype, subtype, cid=_content_id(attachment),
            filename=_clean_filename(attachment.filename), disposition="inline",
        )  # fmt: skip
    placed = {id(a) for a in related}
    for attachment in draft.attachments:
        if id(attachment) in placed:
            continue
        maintype, subtype = attachment.mime_type()
        message.add_attachment(
            attachment.content, maintype, subtype, filename=_clean_filename(attachment.filename),
            disposition="inline" if attachment.inline else "attachment",
            cid=_content_id(attachment) or None,
        )  # fmt: skip


def _content_id(attachment: Attachment) -> str:
    cid = attachment.content_id.strip().strip("<>")
    if cid and not _FIELD_NAME.fullmatch(cid):
        raise InvalidContent(f"attachment {attachment.filename!r}: invalid content id")
    return f"<{cid}>" if cid else ""


def _html_holder(message: EmailMessage) -> EmailMessage:
    """The part that holds the HTML body: the message itself, or the HTML alternative."""
    if message.get_content_type() == "multipart/alternative":
        for part in message.iter_parts():
            assert isinstance(part, EmailMessage)
            if part.get_content_type() in ("text/html", "multipart/related"):
                return part
    return message
