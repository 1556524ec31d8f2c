"""Building a MIME message from the fields of an API request (`/api/v1/email`).

The standard library's `email.mime` classes build the parts and its generator writes them:
RFC 2047 encoded words for non-ASCII names and subjects (`email.header`), RFC 2231 filenames,
base64 for attachments. They are the library's compat32 API, chosen over `EmailMessage` because
its header registry parses every header it is given and made composing a third of the cost of a
request (0.54 ms of a 5 KB message, against about 0.15 ms here). compat32 does not refuse line
breaks in header values, so every value is checked here first: that is what keeps a caller's
`Headers`, `Subject` or names from injecting fields. Message-ID and Date are left to the
submission path, which adds them to every message whatever its origin.

An internationalized address (a non-ASCII local part, `ß@example.org`) is carried as RFC 6532
writes it, in UTF-8 in the header, as a serious gateway does rather than refusing it; the
message then needs SMTPUTF8 (RFC 6531) at delivery, which mta/outbound/delivery.py asks for when an
envelope address is not ASCII. compat32 would turn such an address into an encoded word, which
no reader takes for an address: it writes an ASCII stand-in, replaced in the header section
once the message is written.
"""

from __future__ import annotations

import email.charset
import email.policy
import functools
import mimetypes
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr

from email_validator import EmailNotValidError, validate_email

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


_UTF8 = "utf-8"
_UTF8_QP = email.charset.Charset(_UTF8)
_UTF8_QP.body_encoding = email.charset.QP
_SMTP = email.policy.compat32.clone(linesep="\r\n")


class InvalidContent(ValueError):
    """A request field that cannot become part of a message; the text says which and why."""


class UnencodableText(InvalidContent):
    """Text that the message's charset cannot represent."""


@dataclass(frozen=True)
class Mailbox:
    address: str  # already validated and normalised
    name: str = ""


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
    charset: str = _UTF8  # of the text parts, the subject and the names: utf-8 or iso-8859-2

    def recipients(self) -> list[str]:
        """Envelope recipients: To, Cc and Bcc, each address once (compared without case)."""
        return unique_addresses(mailbox.address for mailbox in (*self.to, *self.cc, *self.bcc))


def unique_addresses(addresses: Iterable[str]) -> list[str]:
    """Each address once, compared without case, the first spelling kept, in order."""
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return list(seen.values())


@functools.lru_cache(maxsize=8192)
def checked_address(text: str) -> tuple[str | None, str]:
    """An address from a request, normalised (IDN domains in their ASCII form), or None and
    email-validator's reason. Kept: an application sends from the same few addresses, often
    to the same ones, and the check is a pure function of the text. Special-use names
    (localhost, .local, .invalid, .onion, .arpa) are refused; `.test` (RFC 6761) is let through
    as the SMTP side lets it through, so both paths take the same addresses."""
    try:
        checked = validate_email(
            text, check_deliverability=False, allow_smtputf8=True, test_environment=True
        )
    except EmailNotValidError as error:
        return None, str(error)
    return checked.ascii_email or checked.normalized, ""


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


def _single_line(what: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidContent(f"{what} has a line break or NUL in it")
    return value


def _encodable(what: str, text: str, charset: str) -> str:
    try:
        text.encode(charset)
    except UnicodeEncodeError as error:
        bad = text[error.start]
        raise UnencodableText(f"{what}: {bad!r} cannot be written in {charset}") from None
    return text


def _address_list(mailboxes: Sequence[Mailbox], charset: str, stand_ins: dict[str, str]) -> str:
    return ", ".join(_mailbox(m, charset, stand_ins) for m in mailboxes)


def _mailbox(mailbox: Mailbox, charset: str, stand_ins: dict[str, str]) -> str:
    """`Name <address>`, the name encoded as RFC 2047 asks; a non-ASCII address as an ASCII
    stand-in recorded in `stand_ins` (see the module's docstring)."""
    name = _encodable("a name", _single_line("a name", mailbox.name), charset)
    address = mailbox.address
    if not address.isascii():
        stand_in = f"smtputf8-{secrets.token_hex(8)}@stand-in.invalid"
        stand_ins[stand_in] = address
        address = stand_in
    return formataddr((name, address), charset=charset)


def _with_addresses(text: str, stand_ins: dict[str, str]) -> str:
    """The written message with its internationalized addresses in place of their stand-ins."""
    if not stand_ins:
        return text
    head, blank, body = text.partition("\r\n\r\n")
    for stand_in, address in stand_ins.items():
        head = head.replace(stand_in, address)
    return head + blank + body


def _text_part(text: str, subtype: str, charset: str = _UTF8) -> MIMEText:
    """7bit when the text is ASCII with short lines; quoted-printable in `charset` otherwise,
    so no line ever passes SMTP's 998 octets."""
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return MIMEText(text, subtype, "us-ascii")
    if charset == _UTF8:
        # typeshed narrows _charset to str; MIMEText passes it to set_payload, which takes a Charset
        return MIMEText(text, subtype, _UTF8_QP)  # type: ignore[arg-type]
    _encodable(f"the {subtype} text", text, charset)
    encoded = email.charset.Charset(charset)
    encoded.body_encoding = email.charset.QP
    return MIMEText(text, subtype, encoded)  # type: ignore[arg-type]  # as above: stub too narrow


def compose(draft: Draft) -> bytes:
    """The message as CRLF bytes, ready for the submission path. Text the draft's charset
    cannot represent is UnencodableText."""
    message = _body(draft)
    charset = draft.charset
    stand_ins: dict[str, str] = {}
    headers = [("From", _address_list([draft.sender], charset, stand_ins))]
    for name, mailboxes in (("To", draft.to), ("Cc", draft.cc), ("Reply-To", draft.reply_to)):
        if mailboxes:
            headers.append((name, _address_list(mailboxes, charset, stand_ins)))
    if not draft.to and not draft.cc:  # recipients all hidden, as Postfix writes it
        headers.append(("To", "undisclosed-recipients:;"))
    subject = _encodable("Subject", _single_line("Subject", draft.subject), charset)
    headers.append(("Subject", subject if subject.isascii() else Header(subject, charset).encode()))
    headers.extend(draft.headers)  # checked by check_header
    for name, value in headers:  # after the body's own MIME fields; order is free (RFC 5322)
        message[name] = value
    return _with_addresses(message.as_string(policy=_SMTP), stand_ins).encode("utf-8")


def _body(draft: Draft) -> Message:
    if draft.plain is not None and draft.html is not None:
        body: Message = MIMEMultipart("alternative")
        body.attach(_text_part(draft.plain, "plain", draft.charset))
        body.attach(_text_part(draft.html, "html", draft.charset))
    elif draft.html is not None:
        body = _text_part(draft.html, "html", draft.charset)
    else:
        body = _text_part(draft.plain or "", "plain", draft.charset)
    # Inline parts with a Content-ID go next to the HTML that refers to them (multipart/related).
    related = [a for a in draft.attachments if a.inline and a.content_id and draft.html is not None]
    if related:
        body = _with_related(body, [_attachment_part(a) for a in related])
    others = [a for a in draft.attachments if not any(a is r for r in related)]
    if not others:
        return body
    mixed = MIMEMultipart("mixed")
    mixed.attach(body)
    for attachment in others:
        mixed.attach(_attachment_part(attachment))
    return mixed


def _with_related(body: Message, parts: list[Message]) -> Message:
    """Wrap the HTML body (alone, or the HTML alternative) in multipart/related with `parts`."""
    if body.get_content_type() == "multipart/alternative":
        alternatives = body.get_payload()
        assert isinstance(alternatives, list) and isinstance(alternatives[-1], Message)
        alternatives[-1] = _with_related(alternatives[-1], parts)
        return body
    related = MIMEMultipart("related")
    related.attach(body)
    for part in parts:
        related.attach(part)
    return related


def _attachment_part(attachment: Attachment) -> Message:
    maintype, subtype = attachment.mime_type()
    filename = _clean_filename(attachment.filename)
    part = MIMEBase(maintype, subtype)
    part.set_payload(attachment.content)
    encode_base64(part)
    disposition = "inline" if attachment.inline else "attachment"
    part.add_header("Content-Disposition", disposition, filename=_rfc2231(filename))
    cid = attachment.content_id.strip().strip("<>")
    if cid:
        if not _FIELD_NAME.fullmatch(cid):
            raise InvalidContent(f"attachment {filename!r}: invalid content id")
        part.add_header("Content-ID", f"<{cid}>")
    return part


def _rfc2231(filename: str) -> str | tuple[str, str, str]:
    return filename if filename.isascii() else ("utf-8", "", filename)
