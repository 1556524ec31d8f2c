"""Spam tests: messages scored by a real spamd on 127.0.0.1:783 (skipped when none answers,
unless MAILGATE_REQUIRE_SPAMD=1, as in CI), the test message built from the API's fields, and
the per-account daily count shared through the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from mta.submission.spam_check import (
    Problem,
    SpamCheckUnavailable,
    SpamTestInvalid,
    build_test_message,
    check_message,
    count_daily_test,
    daily_key,
    day_end,
    parse_report,
    uncount_daily_test,
)
from storage.engine import Database
from storage.rate_windows import purge_windows, window_totals
from tests.conftest import free_port
from tests.mta.support import parsed

# SpamAssassin's test string: the GTUBE rule gives any message carrying it 1000 points.
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
ACCOUNT = "owner@sender.example"


def message(**fields: str) -> bytes:
    values = {"subject": "Lunch on Friday", "sender": "anna@sender.example", "sender_name": ""}
    values |= {"html": "", "text": ""} | fields
    return build_test_message(**values, fallback_sender=ACCOUNT)


async def test_gtube_scores_far_above_the_threshold(spamd: tuple[str, int]) -> None:
    report = await check_message(message(text=f"Hello,\n{GTUBE}\n"), spamd, timeout=30)
    assert report.threshold == 5.0
    assert report.score >= 1000
    gtube = [rule for rule in report.rules if rule.name == "GTUBE"]
    assert len(gtube) == 1
    assert gtube[0].score == 1000
    assert "Unsolicited Bulk Email" in gtube[0].description


async def test_a_plain_note_scores_below_the_threshold(spamd: tuple[str, int]) -> None:
    text = "Shall we meet at noon on Friday to go over the quarterly figures?\n\nAnna\n"
    html = "<p>Shall we meet at noon on Friday to go over the quarterly figures?</p><p>Anna</p>"
    report = await check_message(message(text=text, html=html), spamd, timeout=30)
    assert report.score < report.threshold == 5.0
    assert report.rules, "SpamAssassin lists even the rules worth no points"
    assert all(rule.name and rule.name == rule.name.strip() for rule in report.rules)
    assert "HTML_MESSAGE" in {rule.name for rule in report.rules}
    # Date and Message-ID are there, as on a message the gateway sends.
    assert not {"MISSING_DATE", "MISSING_MID"} & {rule.name for rule in report.rules}


async def test_a_closed_port_is_unavailable_at_once() -> None:
    closed = ("127.0.0.1", free_port())
    async with asyncio.timeout(5):  # refused: no waiting for the 60 s deadline
        with pytest.raises(SpamCheckUnavailable, match=f"127.0.0.1:{closed[1]}"):
            await check_message(message(text="Hello"), closed, timeout=60)


async def test_a_spamd_that_never_answers_times_out() -> None:
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the whole request, answers nothing
        await done.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(10):
            with pytest.raises(SpamCheckUnavailable, match="TimeoutError"):
                await check_message(message(text="Hello"), ("127.0.0.1", port), timeout=0.5)
    finally:
        done.set()
        server.close()
        await server.wait_closed()


def test_report_rows_and_their_wrapped_descriptions_are_read() -> None:
    body = (
        b'Spam detection software, running on the system "vm",\n'
        b"has identified this incoming email as possible spam.\n\n"
        b"Content analysis details:   (11.0 points, 5.0 required)\n\n"
        b" pts rule name              description\n"
        b"---- ---------------------- --------------------------------------------------\n"
        b"-0.0 NO_RECEIVED            Informational: message has no Received headers\n"
        b" 0.1 MIME_HEADER_CTYPE_ONLY 'Content-Type' found without required MIME\n"
        b"                            headers\n"
        b"1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email\n"
        b"\n"
        b"The original message was not completely plain text.\n"
    )
    assert [tuple(rule) for rule in parse_report(body)] == [
        ("NO_RECEIVED", -0.0, "Informational: message has no Received headers"),
        ("MIME_HEADER_CTYPE_ONLY", 0.1, "'Content-Type' found without required MIME headers"),
        ("GTUBE", 1000.0, "BODY: Generic Test for Unsolicited Bulk Email"),
    ]
    assert parse_report(b"") == ()


def test_html_and_text_make_a_multipart_alternative() -> None:
    raw = message(sender_name="Anna Öberg", text="Hi there", html="<p>Hi there</p>")
    got = parsed(raw)
    assert got.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in got.iter_parts()] == ["text/plain", "text/html"]
    assert got["From"].addresses[0].display_name == "Anna Öberg"
    assert got["From"].addresses[0].addr_spec == "anna@sender.example"
    assert (got["Subject"], got["To"]) == ("Lunch on Friday", got["From"])
    assert got["Message-ID"].endswith("@sender.example>")
    assert got["Date"].datetime is not None
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")


def test_one_content_field_makes_a_single_part() -> None:
    assert parsed(message(html="<p>Hi</p>")).get_content_type() == "text/html"
    assert parsed(message(text="Hi", html="  ")).get_content_type() == "text/plain"


def test_without_from_the_account_address_sends_it() -> None:
    assert parsed(message(sender="", text="Hi"))["From"].addresses[0].addr_spec == ACCOUNT


def test_an_international_domain_is_sent_in_its_ascii_form() -> None:
    got = parsed(message(sender="anna@bücher.example", text="Hi"))
    assert got["From"].addresses[0].addr_spec == "anna@xn--bcher-kva.example"


def test_line_breaks_cannot_add_header_fields() -> None:
    got = parsed(message(subject="Hi\r\nBcc: victim@example.org", sender_name="A\nB", text="x"))
    assert got["Bcc"] is None
    assert got["Subject"] == "Hi Bcc: victim@example.org"
    assert got["From"].addresses[0].display_name == "A B"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"subject": "", "text": "Hi"}, Problem.NO_SUBJECT),
        ({"subject": "   ", "sender": "not an address", "text": ""}, Problem.NO_SUBJECT),
        ({"sender": "not an address", "text": "Hi"}, Problem.INVALID_FROM),
        ({"sender": "anna@localhost", "text": "Hi"}, Problem.INVALID_FROM),
        ({"sender": "anna@", "text": ""}, Problem.INVALID_FROM),
        ({"text": "", "html": ""}, Problem.NO_CONTENT),
        ({"text": " \n", "html": "\t"}, Problem.NO_CONTENT),
    ],
)
def test_fields_that_cannot_make_a_message_are_refused(
    fields: dict[str, str], problem: Problem
) -> None:
    with pytest.raises(SpamTestInvalid) as refused:
        message(**fields)
    assert refused.value.problem is problem


def test_a_test_counts_in_the_window_that_ends_with_its_utc_day() -> None:
    midnight = datetime(2024, 3, 2, tzinfo=UTC)
    assert day_end(midnight - timedelta(seconds=1)) == int(midnight.timestamp())
    assert day_end(midnight) == int((midnight + timedelta(days=1)).timestamp())
    assert day_end(midnight + timedelta(hours=23, minutes=59)) == day_end(midnight)


NOON = datetime(2024, 3, 2, 12, tzinfo=UTC)


async def test_the_daily_limit_refuses_the_test_past_it(db: Database) -> None:
    assert [await count_daily_test(db, 7, limit=3, now=NOON) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert await count_daily_test(db, 8, limit=3, now=NOON), "another account has its own count"
    tomorrow = NOON + timedelta(days=1)
    assert await count_daily_test(db, 7, limit=3, now=tomorrow), "a new UTC day starts afresh"


async def test_a_test_given_back_does_not_count(db: Database) -> None:
    assert await count_daily_test(db, 7, limit=1, now=NOON)
    await uncount_daily_test(db, 7, limit=1, now=NOON)
    assert await count_daily_test(db, 7, limit=1, now=NOON)
    assert not await count_daily_test(db, 7, limit=1, now=NOON)


async def test_no_limit_counts_nothing(db: Database) -> None:
    assert all([await count_daily_test(db, 7, limit=0, now=NOON) for _ in range(5)])
    totals = await db.write(lambda c: window_totals(c, day_end(NOON), [daily_key(7)]))
    assert totals == {}


async def test_nodes_testing_at_once_never_pass_the_limit_together(db: Database) -> None:
    other = Database(db.url)  # a second node on the same store
    try:
        counts = [node for node in (db, other) for _ in range(10)]
        allowed = await asyncio.gather(*(count_daily_test(n, 7, 5, now=NOON) for n in counts))
    finally:
        await other.dispose()
    assert sum(allowed) == 5


async def test_the_api_rate_limiters_purge_keeps_todays_count(db: Database) -> None:
    """The /api/v1 limiter deletes windows that started more than a window ago; today's
    count must outlive that, and go once the day is over."""
    now = datetime.now(UTC)
    assert await count_daily_test(db, 7, limit=2, now=now)
    api_window = int(now.timestamp()) // 60 * 60
    await db.write(lambda c: purge_windows(c, before=api_window - 60))
    assert await count_daily_test(db, 7, limit=2, now=now)
    assert not await count_daily_test(db, 7, limit=2, now=now)
    await db.write(lambda c: purge_windows(c, before=day_end(now) + 1))
    assert await count_daily_test(db, 7, limit=2, now=now)
