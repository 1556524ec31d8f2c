"""The per-format bounce readers of mta.feedback.formats: each on the corpus files of its format
(../shared/bounce-corpus, Sisimai's expected results) and on a hand-made bounce in its format,
so the readers stay tested where the corpus is absent; and no reader takes a message that is
not a bounce."""

from __future__ import annotations

import email
import json
import re
from pathlib import Path

import pytest

from mta.feedback.bounce_parser import _text_lines, parse_report
from mta.feedback.formats import READERS, read_failures
from mta.feedback.formats.reader import Failure

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "bounce-corpus"
# Sisimai's own statuses for a message that holds none: nothing to compare.
PLACEHOLDER = re.compile(r"^[245]\.0\.9\d\d$")
# Where Mailgate reads another status than Sisimai, on purpose: WorkMail's expiry
# `554 4.4.7 Message expired ...<421 4.4.2 Connection timed out>` is the gateway's 4.4.7 (the
# first of the most specific codes, as for every DSN), where Sisimai takes the quoted 4.4.2.
DIFFERS = {"lhost-amazonworkmail-05.eml": ["4.4.7"]}
# The corpus's name of a format, where it is not the reader's.
CORPUS_NAMES = {"mailmarshal": "mailmarshalsmtp"}


def corpus_files(reader: str) -> list[tuple[Path, list[list[object]]]]:
    if not (CORPUS / "expectations.json").is_file():
        pytest.skip(f"the bounce corpus is not at {CORPUS}: corpus tests skipped")
    expected = json.loads((CORPUS / "expectations.json").read_text())["files"]
    return [
        (CORPUS / path, entry["entries"])
        for path, entry in sorted(expected.items())
        if Path(path).name.startswith(f"lhost-{CORPUS_NAMES.get(reader, reader)}-")
    ]


def read(raw: bytes) -> tuple[str, list[Failure]] | None:
    """Which reader takes the message, given the text the parser hands the readers."""
    msg = email.message_from_bytes(raw)
    return read_failures(msg, _text_lines(msg))


@pytest.mark.parametrize("reader", [reader.name for reader in READERS])
def test_reads_the_corpus_files_of_its_format(reader: str) -> None:
    files = corpus_files(reader)
    assert files, f"no corpus file for {reader}"
    for path, entries in files:
        taken = read(path.read_bytes())
        assert taken is not None, path.name
        assert taken[0] == reader, path.name
        report = parse_report(path.read_bytes())
        assert report.kind == "bounce", path.name
        assert len(report.recipients) == len(entries), path.name
        expected = DIFFERS.get(path.name, [str(entry[0]) for entry in entries])
        for found, status in zip(report.recipients, expected, strict=True):
            assert "@" in found.address and found.diagnostic, path.name
            if not PLACEHOLDER.match(status):
                assert found.enhanced_code == status, path.name


DRAGONFLY = b"""\
Received: from MAILER-DAEMON
\tid 1f2a3
\tby mail.example.net (DragonFly Mail Agent v0.14);
\tMon, 02 Dec 2024 10:00:00 +0100
From: MAILER-DAEMON <>
To: alice@example.net
Subject: Mail delivery failed
Message-Id: <1f2a3@mail.example.net>
Date: Mon, 02 Dec 2024 10:00:00 +0100

This is the DragonFly Mail Agent v0.14 at mail.example.net.

There was an error delivering your mail to <Bob@Example.ORG>.

mx1.example.org [198.51.100.7] did not like our RCPT TO:
550-5.1.1 The email account that you tried to reach does not exist. Please try
550-5.1.1 double-checking the recipient's email address for typos or
550 5.1.1 unnecessary spaces. x12si345 - gsmtp

Original message follows.

Received: from alice (uid 1000)
\tby mail.example.net (DragonFly Mail Agent v0.14);
\tMon, 02 Dec 2024 09:59:58 +0100
Subject: Hello
To: <Bob@Example.ORG>
From: <alice@example.net>

Hi Bob.
"""


def test_dragonfly_reads_the_reply_after_the_host_line() -> None:
    taken = read(DRAGONFLY)
    assert taken is not None and taken[0] == "dragonfly"
    (bob,) = parse_report(DRAGONFLY).recipients
    assert bob.address == "bob@example.org"
    assert bob.enhanced_code == "5.1.1" and bob.hard and bob.category == "bad-mailbox"
    assert bob.diagnostic.startswith("550 5.1.1 The email account that you tried to reach")
    assert "did not like" not in bob.diagnostic and "unnecessary spaces" in bob.diagnostic


def test_dragonfly_reads_a_giving_up_without_a_reply() -> None:
    raw = DRAGONFLY.replace(
        b"mx1.example.org [198.51.100.7] did not like our RCPT TO:\n"
        b"550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
        b"550-5.1.1 double-checking the recipient's email address for typos or\n"
        b"550 5.1.1 unnecessary spaces. x12si345 - gsmtp\n",
        b"Could not deliver for the last 345600 seconds. Giving up.\n",
    )
    (bob,) = parse_report(raw).recipients
    assert bob.address == "bob@example.org" and bob.enhanced_code is None
    assert bob.diagnostic == "Could not deliver for the last 345600 seconds. Giving up."


WORKMAIL = b"""\
Subject: Delivery Status Notification (Failure)
From: MAILER-DAEMON@eu-west-1.amazonses.com
To: carol@corp.example.com
Date: Tue, 03 Dec 2024 08:00:00 +0000
Mime-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"
X-Mailer: Amazon WorkMail

--b1
Content-Type: text/plain; charset=us-ascii

An error occurred while trying to deliver the mail to the following recipients:
dave@example.org
erin@example.net

Technical report:

Reporting-MTA: dsn; a1-2.smtp-out.eu-west-1.amazonses.com

Action: failed
Final-Recipient: rfc822; dave@example.org
Diagnostic-Code: smtp; 552 5.2.2 <dave@example.org>... Mailbox over quota
Status: 5.2.2

Action: delayed
Final-Recipient: rfc822; erin@example.net
Diagnostic-Code: smtp; 451 4.3.0 Temporary local problem
Status: 4.3.0

--b1
Content-Type: message/rfc822

Subject: Quarterly figures
From: carol@corp.example.com
To: dave@example.org, erin@example.net

Attached.
--b1--
"""


def test_amazon_workmail_reads_the_technical_report() -> None:
    taken = read(WORKMAIL)
    assert taken is not None and taken[0] == "amazonworkmail"
    dave, erin = parse_report(WORKMAIL).recipients
    assert (dave.address, dave.enhanced_code, dave.action) == (
        "dave@example.org",
        "5.2.2",
        "failed",
    )
    assert dave.category == "quota-issues"
    assert dave.diagnostic == "552 5.2.2 <dave@example.org>... Mailbox over quota"
    assert (erin.address, erin.enhanced_code, erin.action) == (
        "erin@example.net",
        "4.3.0",
        "delayed",
    )
    assert not erin.hard


V5SENDMAIL = b"""\
Return-Path: <MAILER-DAEMON@relay.example.com>
Date: Fri, 12 May 1995 10:00:00 +0200
From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>
Subject: Returned mail: Host unknown
Message-Id: <199505120800.AA01234@relay.example.com>
To: frank@example.com

   ----- Transcript of session follows -----
While talking to mail.example.edu:
>>> RCPT To:<grace@example.edu>
<<< 550 No such user grace here
550 <grace@example.edu>... User unknown
550 nowhere.example (smtp)... 550 Host unknown
554 <heidi@nowhere.example>... 550 Host unknown (Authoritative answer from name server)

   ----- Unsent message follows -----
Received: by relay.example.com; (5.65/1.37) id AA01233;
    Fri, 12 May 1995 09:59:00 +0200
From: frank@example.com
To: grace@example.edu, heidi@nowhere.example
Subject: Minutes

See you.
"""


def test_v5_sendmail_reads_each_recipient_line_with_the_remote_reply() -> None:
    taken = read(V5SENDMAIL)
    assert taken is not None and taken[0] == "v5sendmail"
    grace, heidi = parse_report(V5SENDMAIL).recipients
    assert grace.address == "grace@example.edu"
    assert grace.diagnostic == "550 No such user grace here"  # the server's words, not sendmail's
    assert grace.hard and grace.category == "bad-mailbox"
    assert heidi.address == "heidi@nowhere.example"
    assert heidi.diagnostic == "550 Host unknown (Authoritative answer from name server)"
    assert heidi.hard and heidi.category == "bad-domain"


def test_v5_sendmail_without_a_recipient_line_names_the_unsent_message_recipients() -> None:
    raw = V5SENDMAIL.replace(
        V5SENDMAIL[V5SENDMAIL.index(b"While talking") : V5SENDMAIL.index(b"\n\n   ----- Unsent")],
        b"421 example.edu (smtp)... Deferred: Connection timed out during user open with "
        b"example.edu",
    )
    found = parse_report(raw).recipients
    assert [r.address for r in found] == ["grace@example.edu", "heidi@nowhere.example"]
    assert all(r.diagnostic.startswith("421 example.edu (smtp)... Deferred") for r in found)
    assert not any(r.hard for r in found)


NOTES = b"""\
From: postmaster@notes.example.com
To: judy@example.net
Subject: Undeliverable message
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1

------- Failure Reasons  --------

User mallory not listed in Domino Directory
mallory@notes.example.com
Router: No route found to domain example.invalid
oscar@example.invalid

------- Returned Message --------
From: judy@example.net
To: mallory@notes.example.com, oscar@example.invalid
Subject: Agenda

Hello.
"""


def test_notes_reads_each_recipient_under_its_reason() -> None:
    taken = read(NOTES)
    assert taken is not None and taken[0] == "notes"
    mallory, oscar = parse_report(NOTES).recipients
    assert mallory.address == "mallory@notes.example.com"
    assert mallory.diagnostic == "User mallory not listed in Domino Directory"
    assert oscar.address == "oscar@example.invalid"
    assert oscar.diagnostic == "Router: No route found to domain example.invalid"


X6 = b"""\
From: mailer-daemon
To: peggy@example.com
Subject: There was an error sending your mail
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

We had trouble delivering your message. Full details follow:

Subject: 'Invoice'
Date: 'Wed, 04 Dec 2024 12:00:00 +0000'

2 error(s):

The following recipients returned permanent errors: trent@example.org, victor@example.org. \
Reason: SMTP Server <203.0.113.9> refused to accept your message (RCPT), with the following \
error message: [550 5.1.1 No such user]
The following recipients returned temporary errors: walter@example.net. Reason: SMTP Server \
<203.0.113.10> refused to accept your message (RCPT), with the following error message: \
[452 4.2.2 Mailbox full]
"""


def test_x6_reads_the_recipients_and_the_bracketed_reply_of_each_summary() -> None:
    taken = read(X6)
    assert taken is not None and taken[0] == "x6"
    trent, victor, walter = parse_report(X6).recipients
    assert [trent.address, victor.address] == ["trent@example.org", "victor@example.org"]
    assert trent.diagnostic == victor.diagnostic == "550 5.1.1 No such user"
    assert trent.action == "failed" and trent.hard and trent.enhanced_code == "5.1.1"
    assert walter.address == "walter@example.net" and walter.action == "delayed"
    assert walter.diagnostic == "452 4.2.2 Mailbox full" and not walter.hard


ACTIVEHUNTER = b"""\
From: "MAILER-DAEMON" <MAILER-DAEMON@gw.example.jp>
To: <sybil@example.jp>
Subject: FAILURE NOTICE : Report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="AH1"
X-AHMAILID: 20241205T090000+0900-0001-0001

--AH1
Content-Type: text/plain

The original message was received at Thu, 05 Dec 2024 09:00:00 +0900
from example.jp

  ----- The following addresses had permanent fatal errors -----

>>> olivia@example.org <olivia@example.org>

  ----- Transcript of session follows -----
552 5.2.2 mailbox full for olivia

--AH1
Content-Type: message/rfc822

From: sybil@example.jp
To: olivia@example.org
Subject: Report

Text.
--AH1--
"""


def test_active_hunter_reads_the_recipient_and_the_transcript_reply() -> None:
    taken = read(ACTIVEHUNTER)
    assert taken is not None and taken[0] == "activehunter"
    (olivia,) = parse_report(ACTIVEHUNTER).recipients
    assert olivia.address == "olivia@example.org"
    assert olivia.diagnostic == "552 5.2.2 mailbox full for olivia"
    assert olivia.enhanced_code == "5.2.2" and olivia.category == "quota-issues"


def test_active_hunter_layout_without_its_header_is_sendmail_not_active_hunter() -> None:
    assert read(ACTIVEHUNTER.replace(b"X-AHMAILID", b"X-Other")) is None


MAILMARSHAL = b"""\
Received: from MailMarshal.Sender ([127.0.0.1]) by gw.example.com
From: postmaster@gw.example.com
To: rupert@example.com
Subject: Undeliverable Mail: "Plans"
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"

Your message:
   From:    rupert@example.com
   Subject: Plans

Could not be delivered because of

550 5.7.1 Recipient rejected by policy

The following recipients were affected:
    uma@example.org
    vera@example.org

Additional Information
======================
Original Sender:    <rupert@example.com>
"""


def test_mailmarshal_reads_the_reply_for_every_affected_recipient() -> None:
    taken = read(MAILMARSHAL)
    assert taken is not None and taken[0] == "mailmarshal"
    found = parse_report(MAILMARSHAL).recipients
    assert [r.address for r in found] == ["uma@example.org", "vera@example.org"]
    assert all(r.diagnostic == "550 5.7.1 Recipient rejected by policy" for r in found)
    assert all(r.enhanced_code == "5.7.1" for r in found)


APACHEJAMES = b"""\
From: postmaster@james.example.net
To: quentin@example.com
Message-ID: <1234.5678.1733400000000.JavaMail.james@james.example.net>
Subject: Re:Minutes
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Error: Mailbox unavailable

Error message below:
552 5.2.2 Quota exceeded for this mailbox

Message details:
  Subject: Minutes
  MAIL FROM: quentin@example.com
  RCPT TO: rachel@example.org
  From: quentin@example.com
  Size (in bytes): 120
"""


def test_apache_james_reads_the_error_message_and_the_rcpt_to() -> None:
    taken = read(APACHEJAMES)
    assert taken is not None and taken[0] == "apachejames"
    (rachel,) = parse_report(APACHEJAMES).recipients
    assert rachel.address == "rachel@example.org"
    assert rachel.diagnostic == "552 5.2.2 Quota exceeded for this mailbox"
    assert rachel.category == "quota-issues"


NOT_A_BOUNCE = b"""\
From: Ivan <ivan@example.org>
To: news@example.com
Subject: Re: Returned mail: see transcript
Auto-Submitted: auto-replied
X-Mailer: Amazon WorkMail
Received: from x by y (DragonFly Mail Agent v0.13); Mon, 02 Dec 2024 10:00:00 +0100

I am away until Monday. There was an error delivering your mail to <x@example.org>.
This is the DragonFly Mail Agent, he said; the Technical report: is late.
   ----- Transcript of session follows -----
"""


def test_a_message_that_only_looks_like_the_formats_is_taken_by_none() -> None:
    """Headers that hint at every format and some of their phrases, without their layout."""
    assert read(NOT_A_BOUNCE) is None


@pytest.mark.parametrize("prefix", ["rfc3834-", "arf-"])
def test_no_reader_takes_an_auto_reply_or_a_complaint(prefix: str) -> None:
    if not (CORPUS / "maildir").is_dir():
        pytest.skip(f"the bounce corpus is not at {CORPUS}: corpus tests skipped")
    files = sorted((CORPUS / "maildir" / "bsd").glob(f"{prefix}*.eml"))
    assert files
    for path in files:
        assert read(path.read_bytes()) is None, path.name
