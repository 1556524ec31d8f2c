"""Spam tests (`/rest/spam_test/check`): a message made of the request's fields is scored by
SpamAssassin's spamd, so that a sender sees the points and the rules hit before sending.

spamd is asked through aiospamc with a REPORT request: its `Spam` header carries the score
and the threshold, and its body the table of rules hit with their points and descriptions, so
one round trip gives all three. Every failure on the way (refused, timed out, an error status,
an answer that cannot be read) is `SpamCheckUnavailable`, the one fault the API answers with
"error in verification system".

Tests are limited per account and UTC day; the count is a row of `rate_windows`, shared by
every node through the database (`count_daily_test`).
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

# aiospamc ships no type information (no py.typed marker, no stubs package)
import aiospamc  # type: ignore[import-untyped]
from aiospamc.exceptions import ClientException, ParseError  # type: ignore[import-untyped]
from aiospamc.responses import ResponseException  # type: ignore[import-untyped]

from mta.submission.assembly import domain_of, missing_headers, read_headers
from mta.submission.composition import Draft, Mailbox, checked_address, compose
from storage.engine import Database
from storage.rate_windows import add_hits

# A report row: points (`-0.0`, `2.7`, `1000`), the rule's name, its description.
_REPORT_ROW = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+(\S+)\s+(.*?)\s*$")
# Rows follow the dashed line under the table's column titles.
_TABLE_RULE = re.compile(r"^-+ -+ -+\s*$")
_LINE_BREAK = re.compile(r"\r\n|[\r\n]")
# How long a spam test may wait for spamd, connecting and scoring together.
DEFAULT_TIMEOUT = 10.0
DAY_SECONDS = 86400


class SpamCheckUnavailable(Exception):
    """spamd could not score the message: unreachable, too slow, or it answered an error."""


class Rule(NamedTuple):
    name: str
    score: float
    description: str


@dataclass(frozen=True)
class SpamReport:
    """spamd's verdict: `score` against its `threshold`, and each rule that added points."""

    score: float
    threshold: float
    rules: tuple[Rule, ...]


async def check_message(
    raw: bytes,
    address: tuple[str, int],
    timeout: float,  # noqa: ASYNC109 - handed to aiospamc, whose timeout error we convert
) -> SpamReport:
    """Score `raw` (a whole RFC 5322 message) with the spamd at `address` within `timeout`
    seconds."""
    host, port = address
    try:
        response = await aiospamc.report(
            raw, host=host, port=port, timeout=aiospamc.Timeout(total=timeout)
        )
    except (ClientException, ResponseException, ParseError, TimeoutError, OSError) as error:
        raise SpamCheckUnavailable(f"spamd at {host}:{port}: {type(error).__name__}") from error
    verdict = response.headers.spam
    if verdict is None:
        raise SpamCheckUnavailable(f"spamd at {host}:{port}: no Spam header in its answer")
    return SpamReport(verdict.score, verdict.threshold, parse_report(response.body))


def parse_report(body: bytes) -> tuple[Rule, ...]:
    """The rules of SpamAssassin's report table; a description running onto the next lines
    (indented, without points) is joined to its row."""
    rules: list[Rule] = []
    in_table = False
    for line in body.decode("utf-8", "replace").splitlines():
        if not in_table:
            in_table = bool(_TABLE_RULE.match(line))
            continue
        row = _REPORT_ROW.match(line)
        if row:
            rules.append(Rule(row[2], float(row[1]), row[3]))
        elif line[:1].isspace() and line.strip() and rules:
            last = rules[-1]
            rules[-1] = last._replace(description=f"{last.description} {line.strip()}")
        elif not line.strip():
            break  # the table ends at the first blank line
    return tuple(rules)


class Problem(enum.Enum):
    """Why the fields of a spam test cannot make a message (checked in this order)."""

    NO_SUBJECT = "no subject"
    INVALID_FROM = "invalid from address"
    NO_CONTENT = "no content"


class SpamTestInvalid(ValueError):
    """The fields cannot make a test message; `problem` says which rule they broke."""

    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem


def build_test_message(
    subject: str,
    sender: str,
    sender_name: str,
    html: str,
    text: str,
    *,
    fallback_sender: str,
) -> bytes:
    """The message a spam test scores, as the submission path would store it: the API's own
    composition plus the Message-ID and Date it adds. Without `sender` the message comes from
    `fallback_sender` (the account's address), so that a missing From does not cost points
    that a real message would not get. Addressed to its sender: a test has no recipient."""
    if not subject.strip():
        raise SpamTestInvalid(Problem.NO_SUBJECT)
    address, problem = checked_address(sender.strip() or fallback_sender)
    if address is None:
        raise SpamTestInvalid(Problem.INVALID_FROM, problem)
    if not html.strip() and not text.strip():
        raise SpamTestInvalid(Problem.NO_CONTENT)
    mailbox = Mailbox(address, _one_line(sender_name).strip())
    subject = _one_line(subject)
    html_part, text_part = (html if html.strip() else None), (text if text.strip() else None)
    draft = Draft(mailbox, subject, to=[mailbox], html=html_part, plain=text_part)
    content = compose(draft)
    added = missing_headers(read_headers(content), str(uuid.uuid4()), domain_of(address), _now())
    return added + content


def _one_line(value: str) -> str:
    """A header value as a mail client would send it: line breaks become spaces."""
    return _LINE_BREAK.sub(" ", value).replace("\0", "")


def _now() -> datetime:
    return datetime.now(UTC)


def daily_key(user_id: int) -> str:
    """The account's row key in `rate_windows`: a digest, like the /api/v1 keys beside it."""
    return hashlib.sha256(f"spam-test:{user_id}".encode()).hexdigest()


def day_end(when: datetime) -> int:
    """The window a test made at `when` counts in: the end of its UTC day, in Unix seconds.

    The end, not the start: the /api/v1 rate limiter deletes every window that started over
    one of its windows ago, so a row keyed by the day's start would go within minutes. Keyed by
    the day's end, it is deleted once its day is over, and not before."""
    start = int(when.timestamp()) // DAY_SECONDS * DAY_SECONDS
    return start + DAY_SECONDS


async def count_daily_test(
    db: Database, user_id: int, limit: int, now: datetime | None = None
) -> bool:
    """Count one test for the account today; False when that goes past `limit` (0: no limit,
    nothing counted). Counted in one upsert on the shared row, so nodes testing at once for
    one account cannot together pass the limit. A refused test is counted too: it changes
    nothing, the day is over the limit either way."""
    if not limit:
        return True
    key, window = daily_key(user_id), day_end(now or _now())
    totals = await db.write(lambda conn: add_hits(conn, window, {key: 1}))
    return totals[key] <= limit


async def uncount_daily_test(db: Database, user_id: int, limit: int, now: datetime) -> None:
    """Give back a test counted at `now` that spamd could not score: an outage of ours must not
    use up an account's tests."""
    if limit:
        key, window = daily_key(user_id), day_end(now)
        await db.write(lambda conn: add_hits(conn, window, {key: -1}))
