"""mta/replies.py as tables: the enhanced code each reply gets on its way out (RFC 2034;
aiosmtpd writes none), the reason of a refusal aiosmtpd decided, and what a `Refused` carries. The
per-surface refusal tables are held complete in tests/http_api/test_refusal_tables.py."""

from __future__ import annotations

import pytest

from mta import replies
from mta.replies import (
    ENHANCED,
    SUBMISSION_REASONS,
    SUBMISSION_REPLIES,
    Reason,
    Refused,
    builtin_reason,
    with_enhanced_code,
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # aiosmtpd's own replies, by their text (as Postfix codes them)
        ("552 Error: Too much mail data", "552 5.3.4 Error: Too much mail data"),
        ("500 Error: bad syntax", "500 5.5.2 Error: bad syntax"),
        ("500 Command line too long", "500 5.5.2 Command line too long"),
        (
            '500 Error: command "FOO" not recognized',
            '500 5.5.2 Error: command "FOO" not recognized',
        ),
        (
            "555 MAIL FROM parameters not recognized or not implemented",
            "555 5.5.4 MAIL FROM parameters not recognized or not implemented",
        ),
        ("503 Error: send HELO first", "503 5.5.1 Error: send HELO first"),
        ("503 Error: need RCPT command", "503 5.5.1 Error: need RCPT command"),
        ("503 Already authenticated", "503 5.5.1 Already authenticated"),
        ("501 Syntax: MAIL FROM: <address>", "501 5.5.4 Syntax: MAIL FROM: <address>"),
        ("500 Error: strict ASCII mode", "500 5.6.7 Error: strict ASCII mode"),
        ("454 TLS not available", "454 4.7.0 TLS not available"),
        ("502 EXPN not implemented", "502 5.5.1 EXPN not implemented"),
        ("252 Cannot VRFY user", "252 2.5.2 Cannot VRFY user"),
        # by the basic code when the text is not known
        ("250 OK", "250 2.0.0 OK"),
        ("221 Bye", "221 2.0.0 Bye"),
        ("235 Authentication successful", "235 2.7.0 Authentication successful"),
        ("535 no", "535 5.7.8 no"),
        ("451 later", "451 4.3.0 later"),
        ("599 what", "599 5.0.0 what"),  # a code the table does not know: its class
        ("250", "250 2.0.0"),  # a reply with no text
        ("250-SIZE 1000", "250-2.0.0 SIZE 1000"),  # a line of a multi-line reply
        # the class is always the reply code's, whatever the text suggests
        ("550 Cannot VRFY user", "550 5.5.2 Cannot VRFY user"),
        ("421 Error: bad syntax", "421 4.5.2 Error: bad syntax"),
        # passed as they are: a code already there, intermediate and malformed replies
        ("250 2.1.0 Ok", "250 2.1.0 Ok"),
        ("550-5.7.1 first line", "550-5.7.1 first line"),
        ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
        ("334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6"),
        ("650 not SMTP", "650 not SMTP"),
        ("25O typo", "25O typo"),
        ("2500 glued", "2500 glued"),
        ("", ""),
    ],
)
def test_with_enhanced_code(reply: str, expected: str) -> None:
    assert with_enhanced_code(reply) == expected


def test_every_reply_of_ours_already_carries_its_enhanced_code() -> None:
    """Mailgate's own replies are written with their codes; with_enhanced_code leaves them."""
    ours = [value for value in vars(replies).values() if isinstance(value, Refused)]
    ours += [replies.OK, replies.AUTH_OK, replies.queued("q1")]
    assert len(ours) > 30
    for reply in ours:
        assert ENHANCED.match(reply[4:]), reply
        assert with_enhanced_code(reply) == reply


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("500 5.5.2 Error: bad syntax", Reason.SYNTAX),
        ("501 5.5.4 Syntax: MAIL FROM: <address>", Reason.SYNTAX),
        ("502 5.5.1 EXPN not implemented", Reason.UNSUPPORTED),
        ("503 5.5.1 Error: need MAIL command", Reason.SEQUENCE),
        ("504 5.5.4 Unrecognized authentication type", Reason.UNSUPPORTED),
        ("530 5.7.0 Must issue a STARTTLS command first", Reason.TLS_REQUIRED),
        (
            "538 5.7.11 Encryption required for requested authentication mechanism",
            Reason.TLS_REQUIRED,
        ),
        ("552 5.3.4 Error: Too much mail data", Reason.SIZE),
        ("553 5.1.3 bad", Reason.SYNTAX),
        ("554 5.7.0 Command refused due to lack of security", Reason.TLS_REQUIRED),
        ("555 5.5.4 MAIL FROM parameters not recognized", Reason.UNSUPPORTED),
        ("451 4.3.0 something else", Reason.OTHER),  # nobody named it: a bug to fix
        ("", Reason.OTHER),
    ],
)
def test_builtin_reason(reply: str, reason: Reason) -> None:
    assert builtin_reason(reply) is reason


def test_a_refusal_keeps_its_reason_and_fields_through_detail_and_noting() -> None:
    refused = replies.RELAY_DENIED.noting(sender="a@x.test").detailed("<b@y.test>")
    assert refused == "550 5.7.1 Relay access denied: <b@y.test>"
    assert refused.reason is Reason.RELAY_DENIED
    assert refused.fields == {"sender": "a@x.test"}
    assert refused.noting(recipient="b@y.test").fields == {
        "sender": "a@x.test",
        "recipient": "b@y.test",
    }
    assert replies.RELAY_DENIED.detailed("") == "550 5.7.1 Relay access denied"
    assert replies.RELAY_DENIED.fields == {}  # the constant itself is never changed


def test_the_smtp_table_answers_every_submission_reason_with_a_refusal() -> None:
    assert set(SUBMISSION_REPLIES) == SUBMISSION_REASONS
    for reason, reply in SUBMISSION_REPLIES.items():
        assert reply.reason is reason
        assert reply[:1] in ("4", "5")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("550 5.1.1 <a@b.test>: user unknown", "5.1.1"),
        ("550-'5.7.1 <a@b.test>... Access denied'", "5.7.1"),
        ("550 #5.1.0 Address rejected.", "5.1.0"),
        ("421 4.7.0 [TSS04] deferred", "4.7.0"),
        ("550 Client host 4.4.4.4 blocked", None),  # an address is no code
        ("deferred - 4.16.55.1; see help", None),  # nor is a provider's dotted id
        ("5.8.1 is not a subject RFC 3463 has", None),
    ],
)
def test_an_enhanced_code_is_found_in_text_and_an_address_is_not_one(
    text: str, code: str | None
) -> None:
    assert replies.enhanced_code_of(text) == code
