"""Every reason the submission path refuses a message for has an answer on every surface that
submits, through that surface's one table, and each answer is one its document lists: SMTP
replies with enhanced codes, smtprelay's ErrorCodes (001), /api/v1/email's codes (001),
/rest/mail's codes (003). In-process: the tables are data."""

from __future__ import annotations

import re

import pytest

from http_api.commands import relay
from http_api.rest import mail as rest_mail
from http_api.v1_email import REFUSALS as V1_REFUSALS
from mta.replies import ENHANCED, SUBMISSION_REASONS, SUBMISSION_REPLIES, Reason
from mta.submission.submit import SubmissionRefused
from tests.http_api.spec_examples import DOCUMENTS, SPEC_DIR

# 003's error codes of /rest/mail (its text is not among spec_documents/).
REST_MAIL_CODES = {*range(1201, 1214), 1250, 1251}


def documented_codes(heading: str, next_heading: str) -> set[int]:
    """The codes of 001's list (`8: ...`, `21-22: ...`) in the section `heading` starts."""
    text = (SPEC_DIR / DOCUMENTS["001"]).read_text()
    section = text.split(f"\n{heading}\n", 1)[1].split(f"\n{next_heading}\n", 1)[0]
    codes: set[int] = set()
    for first, last in re.findall(r"^(\d+)(?:-(\d+))?: ", section, re.MULTILINE):
        codes.update(range(int(first), int(last or first) + 1))
    return codes


SURFACES = {
    "smtp": SUBMISSION_REPLIES,
    "smtprelay": relay.ANSWERS,
    "/api/v1/email": V1_REFUSALS,
    "/rest/mail": rest_mail.REFUSALS,
}


@pytest.mark.parametrize("surface", SURFACES)
def test_each_surface_answers_every_submission_refusal(surface: str) -> None:
    assert set(SURFACES[surface]) == SUBMISSION_REASONS


def test_the_submission_path_refuses_only_for_its_reasons() -> None:
    with pytest.raises(ValueError, match="auth_failed"):
        SubmissionRefused(Reason.AUTH_FAILED)
    refused = SubmissionRefused(Reason.SIZE, "20000 octets, at most 10000")
    assert refused.reply == (
        "552 5.3.4 Message size exceeds fixed maximum message size: 20000 octets, at most 10000"
    )
    assert refused.reply.reason is Reason.SIZE


def test_smtp_replies_carry_their_reason_and_an_enhanced_code() -> None:
    replies = [*SUBMISSION_REPLIES.items()]
    replies += [(r, answer) for r, (_, answer) in relay.ANSWERS.items() if answer is not None]
    for reason, reply in replies:
        assert reply.reason is reason, reply
        code, enhanced = reply[:3], reply[4:]
        assert code[0] in "45" and code.isdigit(), reply
        assert ENHANCED.match(enhanced) and enhanced[0] == code[0], reply


def test_smtprelay_codes_are_001s() -> None:
    documented = documented_codes(
        "Send Email via SMTP Relay", "Get All Sender Domains for PowerMTA Configuration"
    )
    assert documented == set(range(9))
    assert {code for code, _ in relay.ANSWERS.values()} <= documented
    # the sender's and account's states each have their own, as 001 lists them
    assert relay.ANSWERS[Reason.DOMAIN_INACTIVE][0] == 5
    assert relay.ANSWERS[Reason.SUPPRESSED][0] == 8


def test_api_v1_email_codes_are_001s() -> None:
    documented = documented_codes("Send Email via API", "Send Email via SMTP Relay")
    assert {1, 2, 14, 19, 20, 32, 34, 38} <= documented
    for reason, (code, message, status) in V1_REFUSALS.items():
        assert code in documented or code == 0, reason  # 0: a fault 001 has no code for
        assert message and status in (400, 403, 413, 422), reason


def test_rest_mail_codes_are_003s() -> None:
    for reason, (code, message) in rest_mail.REFUSALS.items():
        assert code in REST_MAIL_CODES and message, reason
