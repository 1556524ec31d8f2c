"""Who may send what: no open relay on the MX port, the sender domain of the credential (envelope
and `From:`), domain status, suppressed recipients and relay networks."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from storage.accounts import set_user_status
from storage.engine import Database
from storage.models import UserStatus
from storage.suppressions import add_suppression
from tests.conftest import Gateway, wait_until
from tests.mta.conftest import Installation, add_sender
from tests.mta.support import (
    CLIENT_NAME,
    expect,
    logged_in,
    marker,
    message,
    messages_containing,
    must_be_stored,
    queued_id,
    send,
    submission,
    text,
)


def test_mx_port_refuses_relay_to_outside_domains(installation: Installation) -> None:
    with smtplib.SMTP("127.0.0.1", installation.mx, local_hostname=CLIENT_NAME) as smtp:
        smtp.ehlo()
        expect(smtp.mail("someone@elsewhere.example"), "250 2.1.0")
        expect(smtp.rcpt("friend@example.org"), "550 5.7.1 Relay access denied")
        # Our own sender domain is not an inbound domain either: only its return-path domain is.
        expect(smtp.rcpt(installation.alpha.address), "550 5.7.1 Relay access denied")
        expect(smtp.docmd("DATA"), "503 5.5.1 Error: need RCPT command")


def test_mx_port_accepts_mail_for_the_return_path_domain(installation: Installation) -> None:
    """A bounce for one of our sender domains: stored for processing, not queued for delivery."""
    bounce_to = f"bounce+abc@{installation.alpha.return_path}"
    content = (
        b"From: MAILER-DAEMON@mx.remote.example\r\nTo: " + bounce_to.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n\r\nUser unknown.\r\n"
    )
    with smtplib.SMTP("127.0.0.1", installation.mx, local_hostname="mx.remote.example") as smtp:
        smtp.ehlo()
        reply = send(smtp, "", content, [bounce_to])
    stored = must_be_stored(installation.gateway, queued_id(reply))
    assert stored.deliveries == []
    assert stored.events == [("received", bounce_to)]
    assert stored.raw.endswith(content)


def test_envelope_sender_must_be_in_the_credential_domain(installation: Installation) -> None:
    alpha = installation.alpha
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        expect(smtp.mail("app@other.example"), "553 5.7.1 Invalid sender domain")
        expect(smtp.mail(f"app@{installation.beta.domain}"), "553 5.7.1")  # same user
        expect(smtp.mail(f"app@not{alpha.domain}"), "553 5.7.1")  # a suffix is not a subdomain
        expect(smtp.mail(f"app@news.{alpha.domain}"), "250 2.1.0")
        expect(smtp.rcpt("friend@example.org"), "250 2.1.5")
        reply = smtp.data(message(f"Newsletter <app@news.{alpha.domain}>"))
    queued_id(reply)


def test_from_header_must_be_in_the_credential_domain(installation: Installation) -> None:
    alpha = installation.alpha
    token = marker()
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        reply = send(smtp, alpha.address, message("Boss <ceo@other.example>", body=token))
        expect(reply, "553 5.7.1 Invalid sender domain")
        # A second From: is refused whatever the first says (RFC 5322 allows one).
        reply = send(
            smtp,
            alpha.address,
            message(alpha.address, body=token, extra="From: ceo@other.example\r\n"),
        )
        expect(reply, "554 5.6.0 Message header is malformed: more than one From or Sender")
        reply = send(
            smtp,
            alpha.address,
            b"To: friend@example.org\r\nSubject: no from\r\n\r\n" + token.encode() + b"\r\n",
        )
        expect(reply, "550 5.6.0")
        # The session goes on: a good message after the refusals is queued.
        queued_id(send(smtp, alpha.address, message(alpha.address)))
    assert messages_containing(installation.gateway, token.encode()) == 0


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        # dkimpy and mail readers take `From :` as a From field: so does the check.
        ("From : ceo@other.example\r\n", "554 5.6.0 Message header is malformed: more than one"),
        ("X-Junk\r\n", "554 5.6.0 Message header is malformed: header line 4 is not a header"),
        ("X-Nul: a\0b\r\n", "554 5.6.0 Message header is malformed: NUL in the header"),
        ("Sender: ceo@other.example\r\n", "553 5.7.1 Invalid sender domain"),
    ],
)
def test_a_header_section_is_read_as_it_is_signed(
    installation: Installation, extra: str, refused: str
) -> None:
    """What the sender check reads is what is signed and what receivers read: a line it could
    not read is a permanent refusal (never the 451 of a signing error), and a Sender outside
    the credential's domain is refused like a From."""
    alpha = installation.alpha
    token = marker()
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        content = message(alpha.address, body=token, extra=extra)
        expect(send(smtp, alpha.address, content), refused)
        queued_id(
            send(smtp, alpha.address, message(alpha.address, extra=f"Sender: {alpha.address}\r\n"))
        )
    assert messages_containing(installation.gateway, token.encode()) == 0


def test_disabled_domain_may_not_send(installation: Installation, relay_gateway: Gateway) -> None:
    beta = installation.beta
    sender = beta.address
    with logged_in(installation.submission, beta.username, beta.password) as smtp:
        queued_id(send(smtp, sender, message(sender)))

    installation.gateway.json("domain", "disable", str(beta.domain_id))

    def refused() -> str | None:
        with logged_in(installation.submission, beta.username, beta.password) as smtp:
            got = text(smtp.mail(sender))
        return got if not got.startswith("250 ") else None

    reply = wait_until(refused, interval=0.2)
    assert reply == f"550 5.7.1 Sender domain is not active: {beta.domain}"
    # A relay-network client (no AUTH) is refused the same way.
    with submission(relay_gateway.ports["submission"]) as smtp:
        expect(smtp.mail(sender), "550 5.7.1 Sender domain is not active")


async def test_deactivated_user_may_not_send(installation: Installation) -> None:
    gateway = installation.gateway
    user_id = int(gateway.json("user", "add", "owner@gamma.test")["UserID"])
    gamma = add_sender(gateway, user_id, "gamma.test")
    with logged_in(installation.submission, gamma.username, gamma.password) as smtp:
        queued_id(send(smtp, gamma.address, message(gamma.address)))

    db = Database(installation.gateway.database_url)
    try:
        assert await set_user_status(db, user_id, UserStatus.DEACTIVATED)
    finally:
        await db.dispose()

    def refused() -> str | None:
        with logged_in(installation.submission, gamma.username, gamma.password) as smtp:
            got = text(smtp.mail(gamma.address))
        return got if not got.startswith("250 ") else None

    reply = wait_until(refused, interval=0.2)  # senders are cached for a second
    assert reply == f"550 5.7.1 User is not trusted or not enabled: {gamma.domain}"


async def test_suppressed_recipient_is_refused_others_accepted(
    installation: Installation,
) -> None:
    alpha = installation.alpha
    db = Database(installation.gateway.database_url)
    try:
        await add_suppression(
            db, "Blocked@Example.org", "hard bounce", "test", user_id=installation.user_id
        )
    finally:
        await db.dispose()
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        expect(smtp.mail(alpha.address), "250 2.1.0")
        expect(smtp.rcpt("first@example.org"), "250 2.1.5")
        expect(
            smtp.rcpt("blocked@example.ORG"),
            "550 5.7.1 Recipient email address is suppressed",
        )
        expect(smtp.rcpt("second@example.org"), "250 2.1.5")
        reply = smtp.data(message(alpha.address))
    stored = must_be_stored(installation.gateway, queued_id(reply))
    assert stored.deliveries == [("first@example.org", "queued"), ("second@example.org", "queued")]


@pytest.fixture(scope="module")
def relay_gateway(installation: Installation) -> Iterator[Gateway]:
    """The installation served with 127.0.0.0/8 as a relay network (AUTH not needed)."""
    gateway = installation.sibling(MAILGATE_RELAY_NETWORKS="127.0.0.0/8")
    yield gateway
    gateway.stop()


def test_relay_network_sends_without_auth_for_enabled_domains(
    installation: Installation, relay_gateway: Gateway
) -> None:
    alpha = installation.alpha
    with submission(relay_gateway.ports["submission"]) as smtp:
        reply = send(smtp, alpha.address, message(alpha.address))
        stored = must_be_stored(installation.gateway, queued_id(reply))
        assert stored.deliveries == [("friend@example.org", "queued")]
        assert stored.raw.startswith(b"DKIM-Signature:")

        expect(smtp.mail("app@unregistered.example"), "553 5.7.1 Invalid sender domain")
        expect(smtp.mail(""), "553 5.7.1")
        expect(smtp.mail(f"app@{installation.pending}"), "550 5.7.1 Sender domain is not active")
        # The From: header is held to the envelope sender's domain here as well.
        reply = send(smtp, alpha.address, message("x@other.example"))
        expect(reply, "553 5.7.1")
