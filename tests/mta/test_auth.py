"""SMTP AUTH: PLAIN and LOGIN over TLS on the submission, SMTPS and MX ports; refused without
TLS; failures answered with 535 and, when they keep coming from one address, refused."""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest

from tests.conftest import Gateway, wait_until
from tests.mta.conftest import Installation
from tests.mta.support import (
    CLIENT_NAME,
    RawSession,
    b64,
    client_tls,
    expect,
    logged_in,
    message,
    must_be_stored,
    plain_blob,
    queued_id,
    send,
    smtp_auth,
    submission,
)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_after_starttls_on_submission_then_message_is_queued(
    installation: Installation, mechanism: str
) -> None:
    alpha = installation.alpha
    with submission(installation.submission) as smtp:
        assert "PLAIN" in smtp.esmtp_features["auth"].split()
        assert "LOGIN" in smtp.esmtp_features["auth"].split()
        expect(smtp_auth(smtp, mechanism, alpha.username, alpha.password), "235 2.7.0")
        reply = send(smtp, alpha.address, message(alpha.address))
    queue_id = queued_id(reply)
    stored = must_be_stored(installation.gateway, queue_id)
    assert stored.deliveries == [("friend@example.org", "queued")]
    assert stored.events == [("queued", "friend@example.org")]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_auth_on_implicit_tls_port_then_message_is_queued(
    installation: Installation, mechanism: str
) -> None:
    alpha = installation.alpha
    smtp = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=installation.smtps, use_tls=True, tls_context=client_tls(),
        local_hostname=CLIENT_NAME,
    )  # fmt: skip
    async with smtp:
        await smtp.ehlo()
        login = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
        expect(await login(alpha.username, alpha.password), "235 2.7.0")
        errors, reply = await smtp.sendmail(
            alpha.address, ["friend@example.org"], message(alpha.address)
        )
    assert errors == {}
    queue_id = queued_id((250, reply))
    assert must_be_stored(installation.gateway, queue_id).deliveries == [
        ("friend@example.org", "queued")
    ]


async def test_wrong_password_is_535_on_every_tls_port(installation: Installation) -> None:
    alpha = installation.alpha
    # Failures count per address for the whole session (a success does not wipe them), so the
    # tests that fail use addresses of their own, not the 127.0.0.1 every other test uses.
    with submission(installation.submission, source="127.0.0.35") as smtp:
        expect(smtp_auth(smtp, "PLAIN", alpha.username, "wrong"), "535 5.7.8")
        expect(smtp_auth(smtp, "LOGIN", "smtp_nobody", alpha.password), "535 5.7.8")
        # Still unauthenticated: submission needs AUTH before MAIL.
        expect(smtp.mail(alpha.address), "530 5.7.0 Authentication required")
        expect(smtp_auth(smtp, "PLAIN", alpha.username, alpha.password), "235 2.7.0")
    smtp_client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=installation.smtps, use_tls=True, tls_context=client_tls(),
        source_address=("127.0.0.35", 0),
    )  # fmt: skip
    async with smtp_client:
        await smtp_client.ehlo()
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
            await smtp_client.auth_plain(alpha.username, "wrong")
        assert (refused.value.code, refused.value.message.split()[0]) == (535, "5.7.8")


def test_submission_refuses_auth_and_mail_before_starttls(installation: Installation) -> None:
    alpha = installation.alpha
    with smtplib.SMTP("127.0.0.1", installation.submission, local_hostname=CLIENT_NAME) as smtp:
        smtp.ehlo()
        assert "starttls" in smtp.esmtp_features
        assert "auth" not in smtp.esmtp_features
        blob = plain_blob(alpha.username, alpha.password)
        expect(smtp.docmd("AUTH", f"PLAIN {blob}"), "530 5.7.0 Must issue a STARTTLS command first")
        expect(smtp.mail(alpha.address), "530 5.7.0 Must issue a STARTTLS command first")


def test_plaintext_auth_from_loopback_when_the_configuration_allows_it(
    installation: Installation,
) -> None:
    alpha = installation.alpha
    local = installation.sibling(MAILGATE_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK="1")
    try:
        for port in (local.ports["submission"], local.ports["smtp"]):
            with smtplib.SMTP("127.0.0.1", port, local_hostname=CLIENT_NAME) as smtp:
                smtp.ehlo()
                assert "PLAIN" in smtp.esmtp_features["auth"].split()
                expect(smtp_auth(smtp, "LOGIN", alpha.username, alpha.password), "235 2.7.0")
                queued_id(send(smtp, alpha.address, message(alpha.address)))
    finally:
        local.stop()


def test_mx_port_offers_auth_only_after_starttls(installation: Installation) -> None:
    alpha = installation.alpha
    with smtplib.SMTP("127.0.0.1", installation.mx, local_hostname=CLIENT_NAME) as smtp:
        smtp.ehlo()
        assert "auth" not in smtp.esmtp_features
        blob = plain_blob(alpha.username, alpha.password)
        expect(smtp.docmd("AUTH", f"PLAIN {blob}"), "538 5.7.11")
        expect(smtp.docmd("AUTH", "LOGIN"), "538 5.7.11")
        expect(smtp.starttls(context=client_tls()), "220 2.0.0")
        smtp.ehlo()
        assert "PLAIN" in smtp.esmtp_features["auth"].split()
        expect(smtp_auth(smtp, "PLAIN", alpha.username, alpha.password), "235 2.7.0")
        # Authenticated on port 25, mail to any domain is relayed.
        reply = send(smtp, alpha.address, message(alpha.address))
    queued_id(reply)


def test_already_authenticated_and_unknown_mechanism(installation: Installation) -> None:
    alpha = installation.alpha
    with logged_in(installation.submission, alpha.username, alpha.password) as smtp:
        expect(smtp.docmd("AUTH", "CRAM-MD5"), "503 5.5.1")
    with submission(installation.submission) as smtp:
        expect(smtp.docmd("AUTH", "CRAM-MD5"), "504 5.5.4")
        expect(smtp.docmd("AUTH", "PLAIN !!notbase64"), "501 5.5.2")


LIMIT = 4


@pytest.fixture(scope="module")
def strict(installation: Installation) -> Iterator[Gateway]:
    """A sibling that locks an address out at its fourth failure, with two SMTP processes (as
    every test gateway has). The failures are counted in the installation's database, so each
    test fails from an address of its own: a locked one stays locked for every gateway."""
    gateway = installation.sibling(
        MAILGATE_AUTH_FAILURE_LIMIT=str(LIMIT),
        MAILGATE_AUTH_FAILURE_DELAY="0.3",
        MAILGATE_AUTH_LOCKOUT_SECONDS="600",
    )
    yield gateway
    gateway.stop()


def tls_session(port: int, source: str) -> RawSession:
    session = RawSession(port, source=source)
    expect(session.command(f"EHLO {CLIENT_NAME}"), "250")
    session.starttls()
    expect(session.command(f"EHLO {CLIENT_NAME}"), "250")
    return session


def test_repeated_failures_are_slowed_then_refused(
    installation: Installation, strict: Gateway
) -> None:
    """Two failures are free, each further one is answered later, and at the limit the address
    is refused, even with the right password; another address is not affected."""
    alpha = installation.alpha
    port = strict.ports["submission"]
    wrong = f"AUTH PLAIN {plain_blob(alpha.username, 'wrong')}"
    with tls_session(port, "127.0.0.31") as session:
        expect(session.command(wrong), "535 5.7.8")
        expect(session.command(wrong), "535 5.7.8")
        started = time.monotonic()
        expect(session.command(wrong), "535 5.7.8")
        assert time.monotonic() - started >= 0.3  # the third failure is answered late
        # The fourth failure reaches the limit: refused and disconnected.
        expect(session.command(f"AUTH LOGIN {b64(alpha.username)}"), "334")
        expect(session.command(b64("wrong")), "421 4.7.0")
        assert session.closed_by_server()

    with tls_session(port, "127.0.0.31") as session:
        expect(
            session.command(f"AUTH PLAIN {plain_blob(alpha.username, alpha.password)}"),
            "421 4.7.0 Too many failed authentication attempts",
        )
        assert session.closed_by_server()

    # The lockout is for that address only, never for the username: the user logs in from
    # elsewhere, as Postfix's per-client limits would let it.
    with submission(port, source="127.0.0.32") as smtp:
        expect(smtp_auth(smtp, "PLAIN", alpha.username, alpha.password), "235 2.7.0")


def worker_pids(supervisor: int) -> set[int]:
    """The processes `mailgate serve` (pid `supervisor`) forked."""
    children = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            if entry.name.isdigit() and int(_stat_fields(entry)[1]) == supervisor:
                children.add(int(entry.name))
    return children


def _stat_fields(proc: Path) -> list[str]:
    return (proc / "stat").read_text().rpartition(")")[2].split()


def serving_pid(session: RawSession, workers: set[int]) -> int:
    """The worker holding the server's end of `session`'s connection (from /proc/net/tcp and
    the workers' descriptors): which process a connection landed on."""
    host, port = session.sock.getsockname()
    peer = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    inode = next(line.split()[9] for line in lines if line.split()[2] == peer)
    for pid in workers:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
    raise AssertionError(f"no worker of {workers} holds the connection")


def sessions_on_both_workers(port: int, source: str, workers: set[int]) -> list[RawSession]:
    """A connection served by each of two SMTP workers (connections that land on a worker
    that has one already are closed)."""
    held: dict[int, RawSession] = {}
    for _ in range(50):
        session = tls_session(port, source)
        pid = serving_pid(session, workers)
        if pid in held:
            session.close()
        else:
            held[pid] = session
        if len(held) == 2:
            return list(held.values())
    raise AssertionError(f"every connection landed on {set(held)}")


def test_the_lockout_holds_across_processes_and_connections(
    installation: Installation, strict: Gateway
) -> None:
    """Failures on connections served by two different SMTP processes add up: the address is
    locked out at the limit (counted per process, four failures got 535 here), and a new
    connection, to either process, is refused too."""
    assert strict.process is not None
    alpha = installation.alpha
    port = strict.ports["submission"]
    wrong = f"AUTH PLAIN {plain_blob(alpha.username, 'wrong')}"
    first, second = sessions_on_both_workers(port, "127.0.0.33", worker_pids(strict.process.pid))
    with first, second:
        for session in (first, second, first):
            expect(session.command(wrong), "535 5.7.8")
        expect(second.command(wrong), "421 4.7.0")  # the fourth failure: the limit
        assert second.closed_by_server()
        expect(first.command(wrong), "421 4.7.0")  # the other process knows it at once
        assert first.closed_by_server()
    for _ in range(2):  # reconnecting does not help, whichever process answers
        with tls_session(port, "127.0.0.33") as session:
            blob = plain_blob(alpha.username, alpha.password)
            expect(session.command(f"AUTH PLAIN {blob}"), "421 4.7.0")
    failed_in = re.findall(
        r"pid=(\d+) refused stage=auth client=127\.0\.0\.33 reason=auth_failed", strict.log()
    )
    assert len(failed_in) == LIMIT - 1 and len(set(failed_in)) == 2
    with submission(port, source="127.0.0.34") as smtp:  # the user, from elsewhere
        expect(smtp_auth(smtp, "PLAIN", alpha.username, alpha.password), "235 2.7.0")


def test_passwords_never_reach_the_log(installation: Installation) -> None:
    alpha = installation.alpha
    wrong = "Wrong-Secret-9f3c"
    with submission(installation.submission, source="127.0.0.36") as smtp:
        expect(smtp_auth(smtp, "LOGIN", alpha.username, wrong), "535 5.7.8")
        expect(smtp_auth(smtp, "PLAIN", alpha.username, alpha.password), "235 2.7.0")
    ok_line = f"auth ok client=127.0.0.36 username={alpha.username}"
    log = wait_until(lambda: ok_line in installation.gateway.log() and installation.gateway.log())
    assert "stage=auth client=127.0.0.36 reason=auth_failed" in log  # the attempts are logged ...
    assert wrong not in log and alpha.password not in log  # ... without their secrets
    assert b64(wrong) not in log and plain_blob(alpha.username, alpha.password) not in log
