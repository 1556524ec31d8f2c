"""mta/submission/assembly.py as tables, in process: what the submission path reads from a header
section (lenient for inbound mail, strict for mail we relay and sign), bare line endings, and the
headers Mailgate adds (Received:, Message-ID:, Date:)."""

from __future__ import annotations

import datetime

import pytest

from mta.submission.assembly import (
    HeaderSummary,
    MalformedHeader,
    domain_of,
    has_bare_line_ending,
    missing_headers,
    protocol_name,
    read_headers,
    received_header,
)

WHEN = datetime.datetime(2026, 12, 7, 10, 30, tzinfo=datetime.UTC)


def message(*lines: str, body: str = "Hello\r\n") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a\r\nb\r\n", False),
        (b"", False),
        (b"a\nb", True),
        (b"a\rb", True),
        (b"a\r\n\nb", True),
        (b"a\n\r", True),  # LF then CR: counts match, but neither is in a pair
        (b"ends with CR\r", True),
    ],
)
def test_has_bare_line_ending(content: bytes, expected: bool) -> None:
    assert has_bare_line_ending(content) is expected


def test_a_plain_header_section_is_read_field_by_field() -> None:
    summary = read_headers(
        message(
            "Received: from a by b; Mon, 7 Dec 2026 10:00:00 +0000",
            "Received: from c by a; Mon, 7 Dec 2026 09:59:00 +0000",
            "From: Shop <News@Shop.test>, other@shop.test",
            "Sender: ops@shop.test",
            "Subject: =?utf-8?q?caf=C3=A9?= time",
            "Message-ID: <1@shop.test>",
            "Date: Mon, 7 Dec 2026 10:00:00 +0000",
        ),
        strict=True,
    )
    assert summary == HeaderSummary(
        from_addresses=("news@shop.test", "other@shop.test"),  # lower-cased
        sender_addresses=("ops@shop.test",),
        subject="café time",  # decoded
        message_id="<1@shop.test>",
        has_date=True,
        hops=2,
        header_from="Shop <News@Shop.test>, other@shop.test",
    )


@pytest.mark.parametrize(
    ("lines", "field", "value"),
    [
        (["Subject: a", " folded", "\tagain"], "subject", "a folded again"),
        (["From : spaced@shop.test"], "from_addresses", ("spaced@shop.test",)),  # obsolete form
        (["FROM: upper@shop.test"], "from_addresses", ("upper@shop.test",)),
        (
            ["From: Group: a@shop.test, b@shop.test;"],
            "from_addresses",
            ("a@shop.test", "b@shop.test"),
        ),
        (["From: undisclosed-recipients:;"], "from_addresses", ()),
        (["From: no address here"], "from_addresses", ()),
        (["Subject: one", "Subject: two"], "subject", "one"),  # the first one counts
        (["Subject: " + "x" * 1200], "subject", "x" * 998),  # cut at a line's length
        (["Subject: =?bogus-charset?q?x?="], "subject", "=?bogus-charset?q?x?="),  # kept as sent
        (["X-Other: 1"], "subject", None),
        (["X-Other: 1"], "has_date", False),
        (["X-Other: 1"], "header_from", None),
    ],
)
def test_fields_read(lines: list[str], field: str, value: object) -> None:
    assert getattr(read_headers(message(*lines), strict=True), field) == value


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (["From: a@shop.test", "not a field"], "header line 2 is not a header field"),
        (["From: a@shop.test", "Bad Name: x"], "header line 2 is not a header field"),
        ([" leading continuation"], "header line 1 is not a header field"),
        (["From: a@shop.test", "From: b@shop.test"], "more than one From or Sender field"),
        (["Sender: a@shop.test", "Sender: b@shop.test"], "more than one From or Sender field"),
        (["From: a\0@shop.test"], "NUL in the header section"),
    ],
)
def test_strict_reading_refuses_what_is_not_a_header_section(lines: list[str], reason: str) -> None:
    with pytest.raises(MalformedHeader, match=reason):
        read_headers(message(*lines), strict=True)


def test_lenient_reading_stops_at_the_first_line_that_is_not_a_field() -> None:
    """Inbound reports are stored whatever their form: what follows such a line is body."""
    summary = read_headers(
        message("From: a@x.test", "From: b@x.test", "garbage", "Subject: after", "Date: x")
    )
    assert summary.from_addresses == ("a@x.test", "b@x.test")
    assert summary.subject is None and not summary.has_date


def test_a_message_without_a_body_separator_is_all_header() -> None:
    assert read_headers(b"Subject: only\r\nDate: x", strict=True).has_date


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("a@Shop.Test", "shop.test"),
        ("a@shop.test.", "shop.test"),
        ('"x@y"@shop.test', "shop.test"),  # the last @
        ("no-at-sign", "no-at-sign"),
        ("", ""),
    ],
)
def test_domain_of(address: str, domain: str) -> None:
    assert domain_of(address) == domain


@pytest.mark.parametrize(
    ("esmtp", "tls", "authenticated", "utf8", "name"),
    [
        (False, False, False, False, "SMTP"),
        (True, False, False, False, "ESMTP"),
        (True, True, False, False, "ESMTPS"),
        (True, True, True, False, "ESMTPSA"),
        (True, False, True, False, "ESMTPA"),
        (True, True, True, True, "UTF8SMTPSA"),
        (True, False, False, True, "UTF8SMTP"),
        (False, True, False, False, "SMTPS"),
    ],
)
def test_protocol_name(esmtp: bool, tls: bool, authenticated: bool, utf8: bool, name: str) -> None:
    assert protocol_name(esmtp, tls, authenticated, utf8) == name


@pytest.mark.parametrize(
    ("helo", "shown"),
    [
        ("client.example", "client.example"),
        ("evil) (injected", "evil___injected"),  # no comment can be closed or opened
        ("with space\r\nX-Injected: 1", "with_space__X-Injected:_1"),
        ("back\\slash", "back_slash"),
        ("", "unknown"),
        ("h" * 300, "h" * 255),
    ],
)
def test_received_header_keeps_the_helo_inside_its_comment(helo: str, shown: str) -> None:
    header = received_header(helo, "192.0.2.1", "mx.mailgate.test", "ESMTPSA", "q1", WHEN)
    assert (
        header
        == (
            f"Received: from {shown} ([192.0.2.1])\r\n"
            "\tby mx.mailgate.test (Mailgate) with ESMTPSA id q1;\r\n"
            "\tMon, 07 Dec 2026 10:30:00 +0000\r\n"
        ).encode()
    )


@pytest.mark.parametrize(
    ("lines", "added"),
    [
        (["Message-ID: <1@x>", "Date: x"], b""),
        (["Date: x"], b"Message-ID: <q1@shop.test>\r\n"),
        (["Message-ID: <1@x>"], b"Date: Mon, 07 Dec 2026 10:30:00 +0000\r\n"),
        ([], b"Message-ID: <q1@shop.test>\r\nDate: Mon, 07 Dec 2026 10:30:00 +0000\r\n"),
    ],
)
def test_missing_headers_adds_only_what_is_missing(lines: list[str], added: bytes) -> None:
    summary = read_headers(message("Subject: s", *lines))
    assert missing_headers(summary, "q1", "shop.test", WHEN) == added
