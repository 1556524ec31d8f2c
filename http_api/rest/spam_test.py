"""`/rest/spam_test/check` (003, "Spamtests"): the message made of `subject`, `from`,
`from_name`, `html` and `text` is scored by SpamAssassin's spamd (`spamd_address`); the answer
is `score` and `tests`, each rule the message hit with its points and description.

Tests are limited per account and UTC day (`spam_test_daily_limit`); requests refused for
their fields, and tests spamd could not score, do not count. Every code answers 400, as the
protocol's own codes for actions do.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from http_api.context import context
from http_api.rest.protocol import RestCall, RestError, action
from mta.submission.spam_check import (
    DEFAULT_TIMEOUT,
    Problem,
    SpamCheckUnavailable,
    SpamTestInvalid,
    build_test_message,
    check_message,
    count_daily_test,
    uncount_daily_test,
)

log = logging.getLogger("mailgate.rest")

PROBLEM_CODES = {
    Problem.NO_SUBJECT: (1901, "No subject"),
    Problem.INVALID_FROM: (1902, "Incorrect “from” address"),
    Problem.NO_CONTENT: (1904, "No mail content"),
}
UNAVAILABLE = 1906
DAILY_LIMIT = 1907


def _field(call: RestCall, name: str) -> str:
    """A text field; numbers as their text, anything else (lists, objects) as not given."""
    value = call.param(name)
    return str(value) if isinstance(value, str | int | float) else ""


@action("spam_test", "check")
async def check(call: RestCall) -> dict[str, Any]:
    settings = context(call.request).settings
    try:
        raw = build_test_message(
            _field(call, "subject"),
            _field(call, "from"),
            _field(call, "from_name"),
            _field(call, "html"),
            _field(call, "text"),
            fallback_sender=call.account.email,
        )
    except SpamTestInvalid as refused:
        raise RestError(*PROBLEM_CODES[refused.problem]) from None
    user_id, limit, now = call.account.user_id, settings.spam_test_daily_limit, datetime.now(UTC)
    if not await count_daily_test(call.db, user_id, limit, now):
        raise RestError(DAILY_LIMIT, "Maximum number of daily tests exceeded")
    try:
        report = await check_message(raw, settings.spamd_address, DEFAULT_TIMEOUT)
    except SpamCheckUnavailable as error:
        log.warning("spam test failed user_id=%d error=%s", user_id, error)
        await uncount_daily_test(call.db, user_id, limit, now)
        raise RestError(UNAVAILABLE, "Error in verification system") from None
    tests = [rule._asdict() for rule in report.rules]
    return {"tests": tests, "score": report.score}
