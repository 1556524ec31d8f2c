"""Classification of replies and bounces: hard or soft, and PowerMTA's category."""

from __future__ import annotations

import pytest

from mta.feedback.bounce_classes import CATEGORIES, Classification, classify, suppresses


@pytest.mark.parametrize(
    ("code", "text", "hard", "category"),
    [
        (550, "5.1.1 <a@b.example>: Recipient address rejected: User unknown", True, "bad-mailbox"),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", True, "bad-mailbox"),
        (550, "5.4.1 Recipient address rejected: Access denied", True, "bad-mailbox"),
        (550, "5.1.10 example.org accepts no mail (null MX)", True, "bad-domain"),
        (550, "5.1.2 domain nowhere.example does not exist (NXDOMAIN)", True, "bad-domain"),
        (550, "Unrouteable address", True, "bad-domain"),
        (552, "5.2.2 Mailbox full", True, "quota-issues"),
        (
            452,
            "4.2.2 The email account that you tried to reach is over quota",
            False,
            "quota-issues",
        ),
        (
            550,
            "5.2.1 The email account that you tried to reach is disabled",
            True,
            "inactive-mailbox",
        ),
        (550, "5.7.1 Message rejected as spam by Content Filtering", True, "spam-related"),
        (
            554,
            "5.7.1 Service unavailable; Client host blocked using Spamhaus",
            True,
            "spam-related",
        ),
        (
            550,
            "5.7.1 Unauthenticated email is not accepted due to DMARC policy",
            True,
            "policy-related",
        ),
        (554, "5.7.1 Virus found in message", True, "virus-related"),
        (552, "5.3.4 Message size exceeds fixed limit", True, "content-related"),
        (451, "4.4.7 message expired after 432000s", False, "message-expired"),
        (421, "4.4.2 mx.example: connection lost", False, "bad-connection"),
        (451, "4.3.0 Try again later", False, "bad-configuration"),
        (550, "Relay access denied", True, "relaying-issues"),
        (553, "5.1.8 Sender address rejected: Domain not found", True, "invalid-sender"),
        (500, "5.5.2 Syntax error, command unrecognized", True, "protocol-errors"),
        (550, "Rejected", True, "other"),
    ],
)
def test_classification(code: int, text: str, hard: bool, category: str) -> None:
    found = classify(code, text)
    assert (found.hard, found.category) == (hard, category)
    assert found.category in CATEGORIES


@pytest.mark.parametrize(
    ("code", "text", "suppressed"),
    [
        (550, "5.1.1 User unknown", True),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", True),
        (550, "5.1.2 domain x does not exist (NXDOMAIN)", True),
        (556, "5.1.10 example.org accepts no mail (null MX)", True),
        (551, "5.1.6 user has moved; please try <new@example.org>", True),
        # Issue 16: hard refusals of the message, not of the address, keep the address.
        (552, "5.2.2 Mailbox full", False),
        (550, "5.2.1 The email account that you tried to reach is disabled", False),
        (554, "5.7.1 blocked as spam", False),
        (
            550,
            "5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org",
            False,
        ),
        (550, "5.7.26 Unauthenticated email is not accepted (DMARC policy)", False),
        (554, "5.6.0 Message content rejected", False),
        (550, "5.0.0 rejected", False),  # a code without a reason
        (452, "4.2.2 over quota", False),  # soft
        (450, "4.1.1 User unknown (try again later)", False),  # soft, even about the address
    ],
)
def test_only_a_bad_address_is_suppressed(code: int, text: str, suppressed: bool) -> None:
    assert suppresses(classify(code, text)) is suppressed


def test_a_category_given_without_words_suppresses_when_it_names_a_bad_address() -> None:
    """internal.bounce.register passes PowerMTA's category: with no reply to read, a
    bad-mailbox or bad-domain category is what there is to go by."""
    assert suppresses(Classification(True, "bad-mailbox", None))
    assert suppresses(Classification(True, "bad-domain", None))
    assert not suppresses(Classification(True, "quota-issues", None))
    assert not suppresses(Classification(False, "bad-mailbox", None))
