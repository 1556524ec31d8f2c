"""Reading a received message's header section and building the headers Mailgate adds.

The received bytes are never rewritten: added headers are prepended, so the stored message is
the received content plus the added headers, byte for byte.
"""

from __future__ import annotations

import email.header
import email.utils
import re
from dataclasses import dataclass
from datetime import datetime

_UNSAFE_IN_COMMENT = re.compile(r"[^\x21-\x27\x2a-\x5b\x5d-\x7e]")


def has_bare_line_ending(content: bytes) -> bool:
    """True for a lone LF or CR: the raw material of SMTP smuggling (RFC 5321 2.3.8).

    Counting is done in C and is several times faster than a regular expression with lookaround.
    """
    crlf = content.count(b"\r\n")
    return content.count(b"\n") != crlf or content.count(b"\r") != crlf


class MalformedHeader(ValueError):
    """A header section that is not RFC 5322 fields. Refused rather than read past: what is
    checked must be what is signed and what receivers parse (dkimpy and mail readers take a
    line our reader stopped at as a header)."""


# RFC 5322 3.6.8: printable ASCII but the colon.
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")


@dataclass(frozen=True)
class HeaderSummary:
    """The header fields the submission path decides on."""

    from_addresses: tuple[str, ...]
    sender_addresses: tuple[str, ...]
    subject: str | None
    message_id: str | None
    has_date: bool
    hops: int
    header_from: str | None


def _header_fields(content: bytes, strict: bool = False) -> list[tuple[str, str]]:
    """The header fields, lower-case names; `strict` refuses (MalformedHeader) a line that is
    neither a field nor a continuation and a NUL, where the lenient reader (for inbound reports,
    which are stored whatever their form) stops at the first such line."""
    head = content.split(b"\r\n\r\n", 1)[0]
    if strict and b"\0" in head:
        raise MalformedHeader("NUL in the header section")
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(head.split(b"\r\n"), 1):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        raw_name, colon, raw_value = line.partition(b":")
        raw_name = raw_name.rstrip(b" \t")  # `From : x` is a From field (RFC 5322 4.5.8 obsolete)
        if not colon or not _FIELD_NAME.fullmatch(raw_name):
            if strict:
                raise MalformedHeader(f"header line {number} is not a header field")
            break
        fields.append(
            (
                raw_name.decode("ascii", "replace").lower(),
                raw_value.strip().decode("utf-8", "replace"),
            )
        )
    return fields


def _decoded(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        return value


def read_headers(content: bytes, strict: bool = False) -> HeaderSummary:
    """What the submission path decides on. `strict` (mail we relay and sign) also refuses a
    malformed header section and more than one From or Sender field (RFC 5322 3.6); the
    Sender's address is checked like the From addresses, as both name who sends."""
    fields = _header_fields(content, strict)
    first: dict[str, str] = {}
    from_values: list[str] = []
    sender_values: list[str] = []
    hops = 0
    for name, value in fields:
        first.setdefault(name, value)
        if name == "from":
            from_values.append(value)
        elif name == "sender":
            sender_values.append(value)
        elif name == "received":
            hops += 1
    if strict and (len(from_values) > 1 or len(sender_values) > 1):
        raise MalformedHeader("more than one From or Sender field")
    addresses = _addresses(from_values)
    subject = first.get("subject")
    return HeaderSummary(
        from_addresses=addresses,
        sender_addresses=_addresses(sender_values),
        subject=_decoded(subject)[:998] if subject is not None else None,
        message_id=first.get("message-id"),
        has_date="date" in first,
        hops=hops,
        header_from=_decoded(from_values[0])[:998] if from_values else None,
    )


def _addresses(values: list[str]) -> tuple[str, ...]:
    return tuple(addr.lower() for _, addr in email.utils.getaddresses(values) if "@" in addr)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def _comment_safe(text: str, limit: int = 255) -> str:
    return _UNSAFE_IN_COMMENT.sub("_", text)[:limit] or "unknown"


def protocol_name(esmtp: bool, tls: bool, authenticated: bool, utf8: bool) -> str:
    """The `with` keyword of RFC 3848 / RFC 6531: SMTP, ESMTP, ESMTPS, ESMTPSA, UTF8SMTPSA, ..."""
    if utf8:
        base = "UTF8SMTP"
    elif esmtp:
        base = "ESMTP"
    else:
        base = "SMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


def received_header(
    helo: str, client_ip: str, by_host: str, protocol: str, queue_id: str, when: datetime
) -> bytes:
    """`Received:` in the RFC 5321 4.4 form, folded over three lines."""
    return (
        f"Received: from {_comment_safe(helo)} ([{client_ip}])\r\n"
        f"\tby {by_host} (Mailgate) with {protocol} id {queue_id};\r\n"
        f"\t{email.utils.format_datetime(when)}\r\n"
    ).encode("utf-8", "replace")


def missing_headers(summary: HeaderSummary, queue_id: str, domain: str, when: datetime) -> bytes:
    """`Message-ID:` and `Date:` for a message that lacks them (RFC 5322 requires both)."""
    added = b""
    if summary.message_id is None:
        added += f"Message-ID: <{queue_id}@{domain}>\r\n".encode("ascii")
    if not summary.has_date:
        added += f"Date: {email.utils.format_datetime(when)}\r\n".encode("ascii")
    return added
