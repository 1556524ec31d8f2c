"""Asynchronous bounces and complaints as they come back on port 25, read by
mta.feedback.bounce_parser: one sample per format a real MTA sends (tests/mta/bounce_samples/*.eml),
each read with its envelope recipient, as Mailgate's SMTP server would, and again without it,
where the report itself names the message. Damaged and foreign input never raises."""

from __future__ import annotations

import logging
import random
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mta.feedback.bounce_parser import MAX_DIAGNOSTIC, Report, parse_report

SAMPLES = Path(__file__).parent / "bounce_samples"
FBL = "fbl@example.com"  # where feedback loops send complaints: not a VERP address


def verp(message: str) -> str:
    return f"b.{message}@bounces.example.com"


class Rcpt(NamedTuple):
    address: str
    hard: bool
    category: str
    enhanced_code: str | None
    action: str
    says: str  # how the diagnostic starts


@dataclass(frozen=True)
class Sample:
    name: str
    message: str  # the uuid hex of the VERP address the report was sent to
    kind: str
    recipients: tuple[Rcpt, ...] = ()
    complainant: str | None = None
    feedback_type: str | None = None
    user_agent: str | None = None
    envelope: str | None = None  # the VERP address when None

    def raw(self) -> bytes:
        return (SAMPLES / f"{self.name}.eml").read_bytes()

    def rcpt_to(self) -> str:
        return self.envelope or verp(self.message)


SAMPLE_TABLE = (
    Sample(
        "postfix_user_unknown",  # the Original-Recipient, not the alias it expanded to
        "231388c75ca94956b35572244eeac6ef",
        "bounce",
        (
            Rcpt(
                "jane@example.org",
                True,
                "bad-mailbox",
                "5.1.1",
                "failed",
                "550 5.1.1 <jane.doe@mbox.example.org>: Recipient address rejected: User unknown",
            ),
        ),
    ),
    Sample(
        "exim_two_recipients",
        "f4b7dcdae5e546b084bd894fe66655cd",
        "bounce",
        (
            Rcpt(
                "alice@example.net",
                True,
                "bad-mailbox",
                "5.1.1",
                "failed",
                "550 5.1.1 <alice@example.net>: Recipient address rejected: User unknown",
            ),
            Rcpt(
                "bob@example.org",
                True,
                "spam-related",
                "5.7.1",
                "failed",
                "550 5.7.1 Message rejected as spam",
            ),
        ),
    ),
    Sample(
        "qmail_no_mailbox",
        "8ea5d29654e04529be62643c805ac5fd",
        "bounce",
        (
            Rcpt(
                "nosuchuser@example.org",
                True,
                "bad-mailbox",
                "5.1.1",
                "failed",
                "Sorry, no mailbox here by that name. (#5.1.1)",
            ),
        ),
    ),
    Sample(
        "sendmail_two_recipients",
        "3659ad42f6e9456bb138dd888a701f74",
        "bounce",
        (
            Rcpt(
                "carol@example.net",
                True,
                "bad-mailbox",
                "5.1.1",
                "failed",
                "550 5.1.1 <carol@example.net>... User unknown",
            ),
            Rcpt(
                "dave@example.net",
                True,
                "inactive-mailbox",
                "5.2.1",
                "failed",
                "550 5.2.1 <dave@example.net>... Mailbox disabled",
            ),
        ),
    ),
    Sample(
        "office365_not_authorized",
        "2323af903d6043799a4785dd760c1ebb",
        "bounce",
        (
            Rcpt(
                "sales@contoso.com",
                True,
                "policy-related",
                "5.7.1",
                "failed",
                "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required [Stage: Create",
            ),
        ),
    ),
    Sample(
        "gmail_no_such_user",  # a 550-5.1.1 reply over four lines reads as one
        "2f556216a56c49e0810af1f15013ec24",
        "bounce",
        (
            Rcpt(
                "old.friend@gmail.com",
                True,
                "bad-mailbox",
                "5.1.1",
                "failed",
                "550 5.1.1 The email account that you tried to reach does not exist. Please try"
                " double-checking the recipient's email address for typos or unnecessary spaces."
                " For more information, go to https://support.google.com/mail/?p=NoSuchUser",
            ),
        ),
    ),
    Sample(
        "yahoo_failure_notice",
        "dced58ee996f4bc99ec8afc2f17fa678",
        "bounce",
        (
            Rcpt(
                "frank@example.net",
                True,
                "bad-mailbox",
                "5.1.1",
                "failed",
                "550 5.1.1 <frank@example.net>: Recipient address rejected: User unknown in"
                " virtual alias table [RCPT_TO]",
            ),
        ),
    ),
    Sample(
        "aol_screen_name",  # a bare screen name; the reason is the line above it
        "c57759d22eca4097a7b174dacf499345",
        "bounce",
        (
            Rcpt(
                "mykewlaolacct@aol.com",
                True,
                "content-related",
                None,
                "failed",
                "Sorry b.c57759d22eca4097a7b174dacf499345@bounces.example.com. Your mail to the"
                " following recipients could not be delivered because they are not accepting"
                " mail with attachments",
            ),
        ),
    ),
    Sample(
        "postfix_delayed",
        "ac2c51f29114479dad6c9f66dd5fa7e3",
        "bounce",
        (
            Rcpt(
                "helen@example.net",
                False,
                "no-answer-from-host",
                "4.4.1",
                "delayed",
                "connect to store2.example.net[10.4.0.22]:25: Connection timed out",
            ),
        ),
    ),
    Sample(
        "smtpsvc_mailbox_full",
        "f4e424496fd449568721adad7fca9ac2",
        "bounce",
        (
            Rcpt(
                "ivy@corp.example.net",
                True,
                "quota-issues",
                "5.2.2",
                "failed",
                "552 5.2.2 <ivy@corp.example.net>... Mailbox full",
            ),
        ),
    ),
    Sample(
        "sendmail_unknown_domain",  # forwarded by an alias to a domain that does not exist
        "6fb0fb51e037453d9986c6e25540cc3b",
        "bounce",
        (Rcpt("sam@example.net", True, "bad-domain", "5.1.2", "failed", "550 Host unknown"),),
    ),
    Sample(
        "dovecot_quota_rejected",
        "24eb11d40f5a45b5b5c40daae6d80eb3",
        "bounce",
        (
            Rcpt(
                "gina@example.org",
                True,
                "quota-issues",
                None,
                "failed",
                "Your message to <gina@example.org> was automatically rejected: Quota exceeded"
                " (mailbox for user is full)",
            ),
        ),
    ),
    Sample(
        "arf_yahoo",
        "0e0162577e6242d1b020951b11af16a1",
        "complaint",
        complainant="kate.lee@yahoo.com",
        feedback_type="abuse",
        user_agent="Yahoo!-Mail-Feedback/2.0",
        envelope=FBL,
    ),
    Sample(
        "arf_aol_redacted",  # AOL names no complainant: "redacted@aol.com" is nobody
        "0d2f6da83aa4458398964f879f83e3f9",
        "complaint",
        feedback_type="abuse",
        user_agent="AOL SComp",
        envelope=FBL,
    ),
    Sample(
        "jmrp_outlook",
        "9c7b1b7064f846c6973093eb869e9077",
        "complaint",
        complainant="liam.k@outlook.com",
        feedback_type="abuse",
        envelope=FBL,
    ),
    Sample("human_reply", "6ea30ee389f642cb8ecd8a825d67c12d", "none"),
    Sample("out_of_office", "8d4f1c2e9a7b4e3f8c6d5a4b3c2d1e0f", "none"),
)
BY_NAME = {sample.name: sample for sample in SAMPLE_TABLE}


def read(report: Report) -> tuple[Rcpt, ...]:
    """The recipients in the table's terms, the diagnostic cut to the length the table gives."""
    return tuple(
        Rcpt(r.address, r.hard, r.category, r.enhanced_code, r.action, r.diagnostic)
        for r in report.recipients
    )


def assert_reads_as(report: Report, sample: Sample) -> None:
    assert report.kind == sample.kind
    assert report.message_id == uuid.UUID(hex=sample.message)
    got = read(report)
    assert [r._replace(says="") for r in got] == [r._replace(says="") for r in sample.recipients]
    for found, expected in zip(got, sample.recipients, strict=True):
        assert found.says.startswith(expected.says), found.says
    assert report.complainant == sample.complainant
    assert report.feedback_type == sample.feedback_type
    assert report.user_agent == sample.user_agent


def test_every_sample_is_in_the_table() -> None:
    assert {path.stem for path in SAMPLES.glob("*.eml")} == set(BY_NAME)


@pytest.mark.parametrize("sample", SAMPLE_TABLE, ids=lambda s: s.name)
def test_reads_the_report_sent_to_its_verp_address(sample: Sample) -> None:
    assert_reads_as(parse_report(sample.raw(), [sample.rcpt_to()]), sample)


@pytest.mark.parametrize("sample", SAMPLE_TABLE, ids=lambda s: s.name)
def test_without_the_envelope_the_report_names_the_message(sample: Sample) -> None:
    assert_reads_as(parse_report(sample.raw()), sample)


@pytest.mark.parametrize("sample", SAMPLE_TABLE, ids=lambda s: s.name)
def test_crlf_line_endings_read_the_same(sample: Sample) -> None:
    crlf = re.sub(rb"\r?\n", b"\r\n", sample.raw())
    assert parse_report(crlf, [sample.rcpt_to()]) == parse_report(sample.raw(), [sample.rcpt_to()])


@pytest.mark.parametrize(
    "name",
    [
        "postfix_user_unknown",  # message/rfc822
        "postfix_delayed",  # text/rfc822-headers
        "office365_not_authorized",  # text/rfc822-headers, Return-Path without brackets
        "qmail_no_mailbox",  # the original pasted under "--- Below this line ..."
        "exim_two_recipients",  # "------ This is a copy of the message ..."
        "yahoo_failure_notice",
    ],
)
def test_the_enclosed_return_path_names_the_message_when_the_report_is_to_someone_else(
    name: str,
) -> None:
    sample = BY_NAME[name]
    raw = re.sub(rb"(?m)^To: .*$", b"To: postmaster@example.com", sample.raw(), count=1)
    assert b"To: postmaster@example.com" in raw
    assert parse_report(raw).message_id == uuid.UUID(hex=sample.message)


def test_the_envelope_recipient_names_the_message_before_the_report() -> None:
    sample = BY_NAME["postfix_user_unknown"]
    other = uuid.uuid4()
    report = parse_report(
        sample.raw(), ["fbl@example.com", f"B.{other.hex.upper()}@Bounces.example.com"]
    )
    assert report.message_id == other


def test_a_report_naming_no_verp_address_names_no_message() -> None:
    raw = re.sub(rb"b\.[0-9a-f]{32}@", b"news@", BY_NAME["sendmail_two_recipients"].raw())
    report = parse_report(raw, ["bounces@example.com"])
    assert report.kind == "bounce"
    assert report.message_id is None
    assert [r.address for r in report.recipients] == ["carol@example.net", "dave@example.net"]


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_a_dsn_that_reports_success_is_no_bounce(action: str) -> None:
    sample = BY_NAME["postfix_user_unknown"]
    raw = sample.raw().replace(b"Action: failed", f"Action: {action}".encode())
    report = parse_report(raw, [sample.rcpt_to()])
    assert report == Report("none", uuid.UUID(hex=sample.message))


def test_a_message_that_expired_on_a_4xx_status_is_a_soft_failure() -> None:
    # What Postfix sends when a delayed message reaches its maximal_queue_lifetime.
    raw = BY_NAME["postfix_delayed"].raw().replace(b"Action: delayed", b"Action: failed")
    (recipient,) = parse_report(raw).recipients
    assert (recipient.action, recipient.hard, recipient.enhanced_code) == ("failed", False, "4.4.1")


def test_a_vague_status_takes_the_detail_of_the_reply() -> None:
    # Exim's DSNs say `Status: 5.0.0` and give the real code in the Diagnostic-Code.
    raw = BY_NAME["sendmail_two_recipients"].raw().replace(b"Status: 5.2.1", b"Status: 5.0.0")
    dave = parse_report(raw).recipients[1]
    assert (dave.enhanced_code, dave.category) == ("5.2.1", "inactive-mailbox")


@pytest.mark.parametrize(
    ("status", "diagnostic", "read"),
    [
        ("5.0.0", "550 #5.1.0 Address rejected.", "5.1.0"),  # Google Workspace
        ("5.1.0", "550 5.7.1 Access denied", "5.7.1"),  # a relay's generic subject
        ("5.0.0", "5.1.0 - Unknown address error 550-'5.7.1 <a@b> Access denied'", "5.7.1"),
        ("5.1.1", "550 5.7.1 Access denied", "5.1.1"),  # as detailed: the Status stands
        ("5.0.0", "550 4.2.2 mailbox full", "5.0.0"),  # another class says nothing of this one
        ("4.7.0", "421 4.7.0 [TSS04] deferred - 4.16.55.1; see help", "4.7.0"),  # Yahoo's id
        ("5.0.0", "550 blocked, client 5.6.7.8 listed", "5.0.0"),  # an address is no code
    ],
    ids=["hash-code", "generic-subject", "nested-reply", "equal-detail", "other-class",
         "yahoo-id", "ip-address"],
)  # fmt: skip
def test_the_most_detailed_code_of_the_same_class_wins(
    status: str, diagnostic: str, read: str
) -> None:
    raw = (
        BY_NAME["sendmail_unknown_domain"]
        .raw()
        .replace(b"Status: 5.1.2", f"Status: {status}".encode())
        .replace(b"SMTP; 550 Host unknown", f"smtp; {diagnostic}".encode())
    )
    (recipient,) = parse_report(raw).recipients
    assert recipient.enhanced_code == read


def test_the_diagnostic_is_cut_to_its_limit() -> None:
    long = b"550 5.1.1 User unknown " + b"x" * 3000
    raw = (
        BY_NAME["sendmail_unknown_domain"]
        .raw()
        .replace(b"SMTP; 550 Host unknown", b"smtp; " + long)
    )
    (recipient,) = parse_report(raw).recipients
    assert len(recipient.diagnostic) == MAX_DIAGNOSTIC
    assert recipient.diagnostic.startswith("550 5.1.1 User unknown xxx")


def test_an_arf_report_without_original_rcpt_to_names_the_enclosed_to() -> None:
    raw = re.sub(rb"(?m)^Original-Rcpt-To: .*\n", b"", BY_NAME["arf_yahoo"].raw())
    assert parse_report(raw, [FBL]).complainant == "kate.lee@yahoo.com"


# -- input that is no report ---------------------------------------------------------------


@contextmanager
def no_errors_logged() -> Iterator[None]:
    """Fails when parse_report had to fall back on its last-resort handler."""
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append  # type: ignore[method-assign]
    logger = logging.getLogger("mailgate.bounces")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not errors, [record.getMessage() for record in errors]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        random.Random(25).randbytes(4096),
        bytes(range(256)) * 8,
        b"From: MAILER-DAEMON@\xff\xfe\r\nSubject: \xc3(\r\n"
        b"Content-Type: multipart/report\r\n\r\n--",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n"
        b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n!!!\n--x--\n",
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=x\n\n--x\n"
        b"Content-Type: message/feedback-report\n\n--x--\n",
        b'From: MAILER-DAEMON@example.org\nContent-Type: text/plain; charset="utf\x008"\n\nHi.\n',
    ],
    ids=[
        "empty",
        "blank",
        "random",
        "all-bytes",
        "8bit-headers",
        "bad-base64-dsn",
        "arf-without-feedback-type",
        "nul-in-charset",
    ],
)
def test_garbage_is_no_report(raw: bytes) -> None:
    with no_errors_logged():
        report = parse_report(raw)
    assert (report.kind, report.message_id, report.recipients) == ("none", None, ())


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(BY_NAME)),
    cut=st.integers(min_value=0, max_value=8000),
    flips=st.lists(st.tuples(st.integers(0, 8000), st.integers(0, 255)), max_size=12),
)
def test_damaged_reports_never_raise(name: str, cut: int, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(BY_NAME[name].raw()[:cut])
    for at, value in flips:
        if at < len(raw):
            raw[at] = value
    with no_errors_logged():
        report = parse_report(bytes(raw), [verp(BY_NAME[name].message)])
    assert report.kind in ("bounce", "complaint", "none")
