"""What an operator greps: every SMTP refusal is one log line (stage, client, reason, reply code
and enhanced code, what the client sent) and one count in mailgate_smtp_refusals_total by stage,
code and reason, whoever decided it (our policy or aiosmtpd); a failed AUTH names the username
tried, escaped and bounded, never the password, and counts in mailgate_smtp_auth_failures_total.

Each test talks from a loopback address of its own, so the lines it looks for are its own."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

from tests.http_api.conftest import log_line, metric, scrape
from tests.mta.conftest import MAX_MESSAGE_SIZE, MAX_RECIPIENTS, Installation
from tests.mta.support import (
    CLIENT_NAME,
    RawSession,
    b64,
    expect,
    message,
    plain_blob,
    send,
    smtp_auth,
    submission,
)


def counted(installation: Installation, name: str, **labels: str) -> Callable[[], float]:
    """A reader of one metric's current value, as /metrics sums it over the processes."""
    return lambda: metric(scrape(installation.gateway), name, **labels)


def refusals(installation: Installation, **labels: str) -> Callable[[], float]:
    return counted(installation, "mailgate_smtp_refusals_total", **labels)


def test_size_announced_at_mail_is_logged_and_counted(installation: Installation) -> None:
    count = refusals(installation, stage="mail", code="5.3.4", reason="size")
    before = count()
    with RawSession(installation.mx, source="127.0.0.51") as session:
        expect(session.command(f"EHLO {CLIENT_NAME}"), "250")
        reply = session.command(f"MAIL FROM:<a@outside.example> SIZE={MAX_MESSAGE_SIZE + 1}")
        expect(reply, "552 5.3.4")
    line = log_line(installation.gateway, "client=127.0.0.51")
    assert "refused stage=mail client=127.0.0.51 reason=size code=552 enhanced=5.3.4" in line
    assert count() == before + 1


def test_message_over_the_size_at_data_is_logged_and_counted(installation: Installation) -> None:
    alpha = installation.alpha
    count = refusals(installation, stage="data", code="5.3.4", reason="size")
    before = count()
    body = "\r\n".join(["x" * 70] * (MAX_MESSAGE_SIZE // 70 + 1))
    with submission(installation.submission, source="127.0.0.52") as smtp:
        expect(smtp_auth(smtp, "PLAIN", alpha.username, alpha.password), "235 2.7.0")
        expect(send(smtp, alpha.address, message(alpha.address, body=body)), "552 5.3.4")
    line = log_line(installation.gateway, "client=127.0.0.52", "stage=data")
    assert "reason=size code=552 enhanced=5.3.4" in line
    assert f"sender='{alpha.address}'" in line
    assert count() == before + 1


def test_commands_before_starttls_are_logged_and_counted(installation: Installation) -> None:
    alpha = installation.alpha
    by_auth = refusals(installation, stage="auth", code="5.7.0", reason="tls_required")
    by_mail = refusals(installation, stage="mail", code="5.7.0", reason="tls_required")
    before = by_auth(), by_mail()
    blob = plain_blob(alpha.username, alpha.password)
    with smtplib.SMTP(
        "127.0.0.1", installation.submission, local_hostname=CLIENT_NAME, timeout=15,
        source_address=("127.0.0.53", 0),
    ) as smtp:  # fmt: skip
        smtp.ehlo()
        expect(smtp.docmd("AUTH", f"PLAIN {blob}"), "530 5.7.0 Must issue a STARTTLS")
        expect(smtp.mail(alpha.address), "530 5.7.0 Must issue a STARTTLS")
    for stage in ("auth", "mail"):
        line = log_line(installation.gateway, "client=127.0.0.53", f"stage={stage}")
        assert "reason=tls_required code=530 enhanced=5.7.0" in line
    assert (by_auth(), by_mail()) == (before[0] + 1, before[1] + 1)
    log = installation.gateway.log()
    assert blob not in log and alpha.password not in log  # the AUTH line is never logged


def test_mail_without_auth_on_submission_is_logged_as_auth_required(
    installation: Installation,
) -> None:
    count = refusals(installation, stage="mail", code="5.7.0", reason="auth_required")
    before = count()
    with submission(installation.submission, source="127.0.0.54") as smtp:
        expect(smtp.mail(installation.alpha.address), "530 5.7.0 Authentication required")
    line = log_line(installation.gateway, "client=127.0.0.54", "reason=auth_required")
    assert "stage=mail client=127.0.0.54 reason=auth_required code=530 enhanced=5.7.0" in line
    assert f"sender='{installation.alpha.address}'" in line
    assert count() == before + 1


def test_relay_denied_names_sender_and_recipient(installation: Installation) -> None:
    count = refusals(installation, stage="rcpt", code="5.7.1", reason="relay_denied")
    before = count()
    with RawSession(installation.mx, source="127.0.0.55") as session:
        expect(session.command(f"EHLO {CLIENT_NAME}"), "250")
        expect(session.command("MAIL FROM:<someone@outside.example>"), "250")
        expect(session.command("RCPT TO:<victim@elsewhere.example>"), "550 5.7.1")
    line = log_line(installation.gateway, "client=127.0.0.55", "stage=rcpt")
    assert "reason=relay_denied code=550 enhanced=5.7.1" in line
    assert "sender='someone@outside.example' recipient='victim@elsewhere.example'" in line
    assert count() == before + 1


def test_protocol_refusals_get_their_reasons(installation: Installation) -> None:
    """aiosmtpd's own refusals (unknown command, commands out of order) and ours (too many
    recipients) are logged and counted like the policy's."""
    alpha = installation.alpha
    too_many = refusals(installation, stage="rcpt", code="4.5.3", reason="recipients")
    before = too_many()
    with submission(installation.submission, source="127.0.0.56") as smtp:
        expect(smtp.docmd("FROBNICATE"), "500 5.5.2")
        expect(smtp.docmd("RCPT", "TO:<friend@example.org>"), "503 5.5.1")
        expect(smtp_auth(smtp, "PLAIN", alpha.username, alpha.password), "235 2.7.0")
        expect(smtp.mail(alpha.address), "250")
        for n in range(MAX_RECIPIENTS):
            expect(smtp.rcpt(f"r{n}@example.org"), "250")
        expect(smtp.rcpt("one-too-many@example.org"), "452 4.5.3")
    assert "reason=syntax code=500" in log_line(installation.gateway, "127.0.0.56", "stage=command")
    assert "reason=sequence code=503" in log_line(installation.gateway, "127.0.0.56", "stage=rcpt")
    line = log_line(installation.gateway, "127.0.0.56", "reason=recipients")
    assert "recipient='one-too-many@example.org'" in line
    assert too_many() == before + 1


def test_failed_auth_names_the_username_never_the_password(installation: Installation) -> None:
    alpha = installation.alpha
    wrong = "Wrong-Secret-5e1d"
    failures = counted(installation, "mailgate_smtp_auth_failures_total")
    refused = refusals(installation, stage="auth", code="5.7.8", reason="auth_failed")
    before = failures(), refused()
    with submission(installation.submission, source="127.0.0.57") as smtp:
        expect(smtp_auth(smtp, "LOGIN", alpha.username, wrong), "535 5.7.8")
        expect(smtp_auth(smtp, "PLAIN", "nobody-at-all", wrong), "535 5.7.8")
    first = log_line(installation.gateway, "client=127.0.0.57", f"username='{alpha.username}'")
    assert (
        "refused stage=auth client=127.0.0.57 reason=auth_failed code=535 enhanced=5.7.8" in first
    )
    log_line(installation.gateway, "client=127.0.0.57", "username='nobody-at-all'")
    log = installation.gateway.log()
    for secret in (wrong, b64(wrong), plain_blob("nobody-at-all", wrong)):
        assert secret not in log
    assert (failures(), refused()) == (before[0] + 2, before[1] + 2)


def test_a_hostile_username_is_escaped_and_cut(installation: Installation) -> None:
    """A username cannot start a log line of its own, carry terminal escapes or fill the log."""
    forged = "x\r\n2030-01-01 INFO mailgate.smtp auth ok username=admin\x1b[2J" + "y" * 200
    with submission(installation.submission, source="127.0.0.58") as smtp:
        expect(smtp_auth(smtp, "LOGIN", forged, "whatever"), "535 5.7.8")
    line = log_line(installation.gateway, "client=127.0.0.58", "reason=auth_failed")
    assert "username='x\\r\\n2030-01-01 INFO mailgate.smtp auth ok username=admin\\x1b[2J" in line
    assert "y" * 40 in line and "y" * 50 not in line and "y'..." in line  # cut at 100
    log = installation.gateway.log()
    assert "\x1b" not in log
    assert not any(row.startswith("2030-01-01") for row in log.splitlines())
