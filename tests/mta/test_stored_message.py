"""What is stored: the received bytes unchanged, after the headers Mailgate adds (DKIM-Signature,
Received, and Message-ID/Date when missing); and a DKIM signature that verifies against the
DNS record `mailgate domain add` printed."""

from __future__ import annotations

import email.utils
import re
import uuid
from datetime import UTC, datetime, timedelta

import dkim
import dkim.util
import pytest

from tests.mta.conftest import DnsRecord, Installation, Sender
from tests.mta.support import (
    CLIENT_NAME,
    RawSession,
    expect,
    must_be_stored,
    plain_blob,
    queued_id,
)

# Lines starting with dots (stuffed on the wire), trailing blanks, a tab, 8-bit text, a long line.
BODY = (
    b".hidden line\r\n"
    b"..two dots\r\n"
    b".\r\n"
    b"trailing blanks   \r\n"
    b"\ttab first\r\n"
    b"caf\xc3\xa9 \xe2\x82\xac\r\n" + b"y" * 900 + b"\r\n"
    b"\r\n"
    b"last line\r\n"
)


def stuffed(content: bytes) -> bytes:
    """SMTP dot-stuffing (RFC 5321 4.5.2) and the end-of-data line."""
    return re.sub(rb"(?m)^\.", b"..", content) + b".\r\n"


def header_fields(block: bytes) -> list[tuple[str, bytes]]:
    """(name, raw value with folding) for each field of a header block."""
    fields: list[tuple[str, bytes]] = []
    for line in block.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name.decode(), value))
    return fields


def submit_raw(
    port: int, sender: Sender, content: bytes, implicit_tls: bool = False, ehlo: str = "EHLO"
) -> uuid.UUID:
    """Send `content` as the exact bytes on the wire (dot-stuffed), authenticated over TLS."""
    with RawSession(port, implicit_tls=implicit_tls) as session:
        expect(session.command(f"{ehlo} {CLIENT_NAME}"), "250")
        if not implicit_tls:
            session.starttls()
            expect(session.command(f"{ehlo} {CLIENT_NAME}"), "250")
        expect(
            session.command(f"AUTH PLAIN {plain_blob(sender.username, sender.password)}"),
            "235 2.7.0",
        )
        expect(session.command(f"MAIL FROM:<{sender.address}>"), "250 2.1.0")
        expect(session.command("RCPT TO:<friend@example.org>"), "250 2.1.5")
        expect(session.command("DATA"), "354")
        session.send(stuffed(content))
        return queued_id(session.reply())


def check_received(value: bytes, protocol: str, queue_id: uuid.UUID) -> None:
    match = re.fullmatch(
        rf" from {re.escape(CLIENT_NAME)} \(\[127\.0\.0\.1\]\)\r\n"
        rf"\tby mx\.mailgate\.test \(Mailgate\) with {protocol} id {queue_id};\r\n"
        r"\t(.+)",
        value.decode(),
    )
    assert match, value
    check_recent(match.group(1))


def check_recent(date: str) -> None:
    when = email.utils.parsedate_to_datetime(date)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=5)


@pytest.mark.parametrize("port_name", ["submission", "smtps"])
def test_stored_message_is_added_headers_then_the_bytes_sent(
    installation: Installation, port_name: str
) -> None:
    alpha = installation.alpha
    content = (
        f"From: App <app@{alpha.domain}>\r\nTo: friend@example.org\r\nSubject: exact\r\n\r\n"
    ).encode() + BODY
    port = getattr(installation, port_name)
    queue_id = submit_raw(port, alpha, content, implicit_tls=port_name == "smtps")

    raw = must_be_stored(installation.gateway, queue_id).raw
    assert raw.endswith(content)
    added = header_fields(raw[: -len(content)])
    assert [name for name, _ in added] == ["DKIM-Signature", "Received", "Message-ID", "Date"]
    check_received(added[1][1], "ESMTPSA", queue_id)
    assert added[2][1] == f" <{queue_id}@{alpha.domain}>".encode()
    check_recent(added[3][1].decode())


def test_message_id_and_date_are_kept_when_present(installation: Installation) -> None:
    alpha = installation.alpha
    content = (
        f"Date: Mon, 1 Jan 2024 10:00:00 +0100\r\nMessage-ID: <own-id@{alpha.domain}>\r\n"
        f"From: {alpha.address}\r\nSubject: own ids\r\n\r\n"
    ).encode() + BODY
    queue_id = submit_raw(installation.submission, alpha, content)
    raw = must_be_stored(installation.gateway, queue_id).raw
    assert raw.endswith(content)
    added = header_fields(raw[: -len(content)])
    assert [name for name, _ in added] == ["DKIM-Signature", "Received"]
    check_received(added[1][1], "ESMTPSA", queue_id)


@pytest.mark.parametrize(("greeting", "protocol"), [("EHLO", "ESMTP"), ("HELO", "SMTP")])
def test_inbound_mail_gets_only_a_received_header(
    installation: Installation, greeting: str, protocol: str
) -> None:
    """Inbound mail (to a return-path domain) is not signed and not completed."""
    to = f"bounce@{installation.alpha.return_path}"
    content = b"From: MAILER-DAEMON@remote.example\r\nSubject: bounce\r\n\r\n" + BODY
    with RawSession(installation.mx) as session:
        expect(session.command(f"{greeting} {CLIENT_NAME}"), "250")
        expect(session.command("MAIL FROM:<>"), "250 2.1.0")
        expect(session.command(f"RCPT TO:<{to}>"), "250 2.1.5")
        expect(session.command("DATA"), "354")
        session.send(stuffed(content))
        queue_id = queued_id(session.reply())
    raw = must_be_stored(installation.gateway, queue_id).raw
    assert raw.endswith(content)
    added = header_fields(raw[: -len(content)])
    assert [name for name, _ in added] == ["Received"]
    check_received(added[0][1], protocol, queue_id)


def signed_message(installation: Installation) -> bytes:
    alpha = installation.alpha
    content = (
        f"From: App <app@{alpha.domain}>\r\nTo: friend@example.org\r\n"
        "Subject: signed\r\nReply-To: help@alpha.test\r\n\r\n"
    ).encode() + BODY
    with RawSession(installation.smtps, implicit_tls=True) as session:
        expect(session.command(f"EHLO {CLIENT_NAME}"), "250")
        expect(
            session.command(f"AUTH PLAIN {plain_blob(alpha.username, alpha.password)}"),
            "235 2.7.0",
        )
        expect(session.command(f"MAIL FROM:<{alpha.address}>"), "250 2.1.0")
        expect(session.command("RCPT TO:<friend@example.org>"), "250 2.1.5")
        expect(session.command("DATA"), "354")
        session.send(stuffed(content))
        queue_id = queued_id(session.reply())
    return must_be_stored(installation.gateway, queue_id).raw


def test_dkim_signature_verifies_with_the_published_key(installation: Installation) -> None:
    alpha = installation.alpha
    raw = signed_message(installation)
    dns = DnsRecord(alpha)
    assert dkim.verify(raw, dnsfunc=dns)
    assert dns.asked == [f"{alpha.selector}._domainkey.{alpha.domain}"]

    signature = header_fields(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n")[0]
    assert signature[0] == "DKIM-Signature"
    tags = dkim.util.parse_tag_value(re.sub(rb"\s+", b"", signature[1]))
    assert tags[b"a"] == b"rsa-sha256"
    assert tags[b"c"] == b"relaxed/relaxed"
    assert tags[b"d"] == alpha.domain.encode()
    assert tags[b"s"] == alpha.selector.encode()
    signed = [name.lower() for name in tags[b"h"].split(b":")]
    assert signed.count(b"from") == 2  # a From: added after signing breaks the signature
    assert {b"to", b"subject", b"date", b"message-id", b"reply-to"} <= set(signed)


def test_dkim_signature_breaks_when_the_message_is_changed(installation: Installation) -> None:
    raw = signed_message(installation)
    dns = DnsRecord(installation.alpha)
    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(b"From: ceo@other.example\r\n" + raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"last line", b"last lime"), dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"Subject: signed", b"Subject: signeD"), dnsfunc=dns)
