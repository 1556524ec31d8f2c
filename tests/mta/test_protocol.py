"""Protocol hygiene: advertised extensions, pipelining, enhanced status codes on every reply,
bare line endings (SMTP smuggling), garbage input and SMTPUTF8."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import aiosmtplib
import pytest

from tests.mta.conftest import Installation
from tests.mta.support import (
    CLIENT_NAME,
    ENHANCED,
    RawSession,
    client_tls,
    expect,
    marker,
    message,
    messages_containing,
    must_be_stored,
    plain_blob,
    queued_id,
)

EXTENSIONS = {"size", "pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes"}


def test_ehlo_advertises_extensions_on_every_port(installation: Installation) -> None:
    with smtplib.SMTP("127.0.0.1", installation.mx, local_hostname=CLIENT_NAME) as mx:
        code, banner = mx.ehlo()
        assert code == 250
        assert banner.decode().startswith("mx.mailgate.test")
        assert EXTENSIONS | {"starttls"} <= set(mx.esmtp_features)
        mx.starttls(context=client_tls())
        mx.ehlo()
        assert EXTENSIONS | {"auth"} <= set(mx.esmtp_features)
        assert "starttls" not in mx.esmtp_features
    with smtplib.SMTP("127.0.0.1", installation.submission, local_hostname=CLIENT_NAME) as sub:
        sub.ehlo()
        assert EXTENSIONS | {"starttls"} <= set(sub.esmtp_features)
    with smtplib.SMTP_SSL(
        "127.0.0.1", installation.smtps, local_hostname=CLIENT_NAME, context=client_tls()
    ) as smtps:
        smtps.ehlo()
        assert EXTENSIONS | {"auth"} <= set(smtps.esmtp_features)
        assert "starttls" not in smtps.esmtp_features


@pytest.fixture
def authenticated(installation: Installation) -> Iterator[RawSession]:
    """A raw session on the submission port after EHLO, STARTTLS, EHLO and AUTH."""
    alpha = installation.alpha
    with RawSession(installation.submission) as session:
        expect(session.command(f"EHLO {CLIENT_NAME}"), "250")
        session.starttls()
        expect(session.command(f"EHLO {CLIENT_NAME}"), "250")
        expect(
            session.command(f"AUTH PLAIN {plain_blob(alpha.username, alpha.password)}"),
            "235 2.7.0",
        )
        yield session


def test_pipelined_transactions_in_one_write(
    installation: Installation, authenticated: RawSession
) -> None:
    sender = installation.alpha.address
    first, second = message(sender, subject="first"), message(sender, subject="second")
    authenticated.send(
        f"MAIL FROM:<{sender}>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
        "DATA\r\n".encode()
    )
    expect(authenticated.reply(), "250 2.1.0")
    expect(authenticated.reply(), "250 2.1.5")
    expect(authenticated.reply(), "250 2.1.5")
    expect(authenticated.reply(), "354")
    # End of data, the whole next transaction and its DATA in one more write.
    authenticated.send(
        first + b".\r\n"
        + f"MAIL FROM:<{sender}>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n".encode()
    )  # fmt: skip
    one = queued_id(authenticated.reply())
    expect(authenticated.reply(), "250 2.1.0")
    expect(authenticated.reply(), "250 2.1.5")
    expect(authenticated.reply(), "354")
    authenticated.send(second + b".\r\nQUIT\r\n")
    two = queued_id(authenticated.reply())
    expect(authenticated.reply(), "221 2.0.0")
    assert authenticated.closed_by_server()

    stored_one = must_be_stored(installation.gateway, one)
    assert stored_one.raw.endswith(first)
    assert stored_one.deliveries == [("a@example.org", "queued"), ("b@example.org", "queued")]
    stored_two = must_be_stored(installation.gateway, two)
    assert stored_two.raw.endswith(second)
    assert stored_two.deliveries == [("c@example.org", "queued")]


def test_every_reply_after_the_greeting_has_an_enhanced_code(installation: Installation) -> None:
    with RawSession(installation.mx) as session:
        expect(session.command("MAIL FROM:<a@remote.example>"), "503 5.5.1")  # before EHLO
        ehlo = session.command(f"EHLO {CLIENT_NAME}")
        assert ehlo.code == 250
        ehlo_lines = len(ehlo.message.splitlines())
        expect(session.command("FROB"), "500 5.5.2")
        expect(session.command("RCPT TO:<x@example.org>"), "503 5.5.1")
        expect(session.command("DATA"), "503 5.5.1")
        expect(session.command("MAIL"), "501 5.5.4 Syntax: MAIL FROM: <address>")
        expect(session.command("MAIL FROM:<a@remote.example> BODY=9BIT"), "501 5.5.4")
        expect(session.command("MAIL FROM:<a@remote.example> FOO=bar"), "555 5.5.4")
        expect(session.command("NOOP"), "250 2.0.0")
        session.command("VRFY postmaster")
        session.command("EXPN staff")
        session.command("HELP")
        expect(session.command("AUTH PLAIN"), "538 5.7.11")
        expect(session.command("MAIL FROM:<a@remote.example>"), "250 2.1.0")
        expect(session.command("MAIL FROM:<b@remote.example>"), "503 5.5.1")
        expect(session.command("RCPT TO:<no-domain>"), "501 5.1.3")
        expect(session.command("RCPT TO:<x@example.org>"), "550 5.7.1")
        expect(session.command("RSET"), "250 2.0.0")
        expect(session.command("RSET now"), "501 5.5.4")
        expect(session.command("QUIT"), "221 2.0.0")
        replies = list(session.replies)

    # The greeting and the EHLO reply carry no enhanced codes (RFC 2034); everything else does.
    greeting, rest = replies[0], replies[1:]
    assert greeting.startswith("220 mx.mailgate.test")
    before_ehlo, after_ehlo = rest[:1], rest[1 + ehlo_lines :]
    without_code = [line for line in before_ehlo + after_ehlo if not ENHANCED.match(line)]
    assert without_code == []


def test_commands_pipelined_after_starttls_are_discarded(installation: Installation) -> None:
    """Plain-text commands sent behind STARTTLS must not run inside the TLS session (RFC 3207
    4.2; the STARTTLS command injection of CVE-2011-0411)."""
    with RawSession(installation.submission) as session:
        expect(session.command(f"EHLO {CLIENT_NAME}"), "250")
        session.send(f"STARTTLS\r\nMAIL FROM:<{installation.alpha.address}>\r\n".encode())
        expect(session.reply(), "220 2.0.0")
        session.wrap_tls()
        ehlo = session.command(f"EHLO {CLIENT_NAME}")
        assert (ehlo.code, ehlo.message.splitlines()[0]) == (250, "mx.mailgate.test")
        # Still no transaction: the injected MAIL never ran.
        expect(session.command("RCPT TO:<friend@example.org>"), "503 5.5.1 Error: need MAIL")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"line\n.\nmore\r\n", id="bare-LF-dot-bare-LF"),
        pytest.param(b"line\r\n.\nmore\r\n", id="CRLF-dot-bare-LF"),
        pytest.param(b"line\n.\r\nmore\r\n", id="bare-LF-dot-CRLF"),
        pytest.param(b"line\r.\rmore\r\n", id="bare-CR"),
    ],
)
def test_bare_line_endings_are_refused_and_not_stored(
    installation: Installation, authenticated: RawSession, data: bytes
) -> None:
    sender = installation.alpha.address
    token = marker().encode()
    expect(authenticated.command(f"MAIL FROM:<{sender}>"), "250 2.1.0")
    expect(authenticated.command("RCPT TO:<friend@example.org>"), "250 2.1.5")
    expect(authenticated.command("DATA"), "354")
    authenticated.send(message(sender, body=token.decode()) + data + b".\r\n")
    expect(authenticated.reply(), "550 5.5.2")
    expect(authenticated.command("NOOP"), "250 2.0.0")
    assert messages_containing(installation.gateway, token) == 0


def test_smuggled_transaction_is_neither_run_nor_stored(
    installation: Installation, authenticated: RawSession
) -> None:
    """`<LF>.<CR><LF>` ends DATA on some servers; what follows would run as a second, spoofed
    transaction there. Here it is data, and the message is refused as a whole."""
    sender = installation.alpha.address
    token = marker().encode()
    smuggled = (
        b"\n.\r\nMAIL FROM:<ceo@" + installation.alpha.domain.encode() + b">\r\n"
        b"RCPT TO:<victim@example.org>\r\nDATA\r\n"
        b"From: ceo@alpha.test\r\nSubject: wire money\r\n\r\n" + token + b"\r\n"
    )
    expect(authenticated.command(f"MAIL FROM:<{sender}>"), "250 2.1.0")
    expect(authenticated.command("RCPT TO:<friend@example.org>"), "250 2.1.5")
    expect(authenticated.command("DATA"), "354")
    authenticated.send(message(sender) + b"Hi" + smuggled + b".\r\n")
    expect(authenticated.reply(), "550 5.5.2")
    # Exactly one reply to the whole: the next one answers our next command.
    expect(authenticated.command("NOOP"), "250 2.0.0")
    assert messages_containing(installation.gateway, token) == 0


def test_session_survives_invalid_utf8_and_garbage(
    installation: Installation, authenticated: RawSession
) -> None:
    sender = installation.alpha.address
    expect(authenticated.command(b"\xff\xfe\xfd\xfc"), "500 5.5.2")
    expect(authenticated.command(b"\x00\x01\x02 garbage \x7f"), "500 5.5.2")
    expect(authenticated.command(b""), "500 5.5.2")
    expect(authenticated.command(b"NOOP \xc3\x28"), "250 2.0.0")
    expect(authenticated.command(b"RSET \xff"), "501 5.5.4")
    expect(authenticated.command(b"X" * 2000), "500 5.5.2")
    # A normal transaction after all that, with 8-bit, non-UTF-8 bytes in the body.
    content = message(sender) + b"latin-1: caf\xe9 and \xff\xfe\r\n"
    expect(authenticated.command(f"MAIL FROM:<{sender}> BODY=8BITMIME"), "250 2.1.0")
    expect(authenticated.command("RCPT TO:<friend@example.org>"), "250 2.1.5")
    expect(authenticated.command("DATA"), "354")
    authenticated.send(content + b".\r\n")
    stored = must_be_stored(installation.gateway, queued_id(authenticated.reply()))
    assert stored.raw.endswith(content)


# Address bytes that are not UTF-8 are a syntax error (5xx), not a temporary failure that the
# client would retry for days.


def test_invalid_utf8_sender_address_is_refused_permanently(
    installation: Installation, authenticated: RawSession
) -> None:
    sender = installation.alpha.address
    expect(
        authenticated.command(b"MAIL FROM:<\xff\xfe" + sender.encode() + b">"),
        "501 5.1.7 Bad sender address syntax",
    )
    expect(authenticated.command(f"MAIL FROM:<{sender}>"), "250 2.1.0")


def test_control_characters_in_addresses_are_refused(
    installation: Installation, authenticated: RawSession
) -> None:
    sender = installation.alpha.address
    expect(
        authenticated.command(b"MAIL FROM:<app\x00x@" + sender.split("@")[1].encode() + b">"),
        "501 5.1.7 Bad sender address syntax",
    )
    expect(authenticated.command(f"MAIL FROM:<{sender}>"), "250 2.1.0")
    expect(
        authenticated.command(b'RCPT TO:<"a\x01b"@example.org>'),
        "501 5.1.3 Bad recipient address syntax",
    )
    expect(authenticated.command("RCPT TO:<friend@example.org>"), "250 2.1.5")


def test_invalid_utf8_recipient_address_is_refused_permanently(
    installation: Installation, authenticated: RawSession
) -> None:
    expect(authenticated.command(f"MAIL FROM:<{installation.alpha.address}>"), "250 2.1.0")
    expect(
        authenticated.command(b"RCPT TO:<caf\xe9@example.org>"),
        "501 5.1.3 Bad recipient address syntax",
    )
    expect(authenticated.command("RCPT TO:<friend@example.org>"), "250 2.1.5")


async def test_smtputf8_addresses(installation: Installation) -> None:
    alpha = installation.alpha
    sender = f"jöhn@{alpha.domain}"
    recipient = "josé@exämple.org"
    content = (
        f"From: Jöhn <{sender}>\r\nTo: {recipient}\r\nSubject: Grüße\r\n\r\nÇa va?\r\n"
    ).encode()
    smtp = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=installation.submission, start_tls=True,
        tls_context=client_tls(), local_hostname=CLIENT_NAME,
    )  # fmt: skip
    async with smtp:
        await smtp.login(alpha.username, alpha.password)
        errors, reply = await smtp.sendmail(sender, [recipient], content, mail_options=["SMTPUTF8"])
    assert errors == {}
    stored = must_be_stored(installation.gateway, queued_id((250, reply)))
    assert stored.mail_from == sender
    assert stored.deliveries == [(recipient, "queued")]
    assert stored.raw.endswith(content)
    assert b" with UTF8SMTPSA id " in stored.raw


def test_utf8_address_without_smtputf8_parameter_is_refused(
    installation: Installation, authenticated: RawSession
) -> None:
    sender = installation.alpha.address
    expect(authenticated.command(f"MAIL FROM:<jöhn@{installation.alpha.domain}>"), "553 5.6.7")
    expect(authenticated.command(f"MAIL FROM:<{sender}>"), "250 2.1.0")
    expect(authenticated.command("RCPT TO:<josé@example.org>"), "553 5.6.7")
    expect(authenticated.command("RCPT TO:<jose@example.org>"), "250 2.1.5")
