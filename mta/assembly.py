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


@dataclass(frozen=True)
class HeaderSummary:
    """The header fields the submission path decides on."""

    from_addresses: tuple[str, ...]
    subject: str | None
    message_id: str | None
    has_date: bool
    hops: int
    header_from: str | None


def _header_fields(content: bytes) -> list[tuple[str, str]]:
    head = content.split(b"\r\n\r\n", 1)[0]
    fields: list[tuple[str, str]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or b" " in name.strip() or name != name.rstrip():
            break
        fields.append(
            (name.decode("ascii", "replace").lower(), value.strip().decode("utf-8", "replace"))
        )
    return fields


def _decoded(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        return value


def read_headers(content: bytes) -> HeaderSummary:
    fields = _header_fields(content)
    first: dict[str, str] = {}
    from_values: list[str] = []
    hops = 0
    for name, value in fields:
        first.setdefault(name, value)
        if name == "from":
            from_values.append(value)
        elif name == "received":
            hops += 1
    addresses = tuple(
        addr.lower() for _, addr in email.utils.getaddresses(from_values) if "@" in addr
    )
    subject = first.get("subject")
    return HeaderSummary(
        from_addresses=addresses,
        subject=_decoded(subject)[:998] if subject is not None else None,
        message_id=first.get("message-id"),
        has_date="date" in first,
        hops=hops,
        header_from=_decoded(from_values[0])[:998] if from_values else None,
    )


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
