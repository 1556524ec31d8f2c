"""Bounce classification: hard or soft, and a category from PowerMTA's list, from an SMTP reply.

The same function classifies synchronous replies (delivery) and asynchronous bounces (DSNs), so
a category that PowerMTA supplies and one that Mailgate derives mean the same thing. The
enhanced status code (RFC 3463) decides first; the reply text refines what the code leaves open
(many servers answer `550 5.7.1` for spam, policy and unknown users alike).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mta.feedback.reasons import (
    BLOCKLIST,
    EXPIRY,
    INACTIVE,
    NO_ANSWER,
    NO_DOMAIN,
    NO_MAILBOX,
    QUOTA,
    RELAYING,
    SENDER,
    VIRUS,
    Reason,
    is_bad_address,
    reason_of,
)
from mta.replies import enhanced_code_of

# PowerMTA's bounce categories (its `bounce-category-patterns`), the whole list.
CATEGORIES = (
    "bad-mailbox",
    "bad-domain",
    "bad-connection",
    "bad-configuration",
    "content-related",
    "inactive-mailbox",
    "invalid-sender",
    "message-expired",
    "no-answer-from-host",
    "other",
    "policy-related",
    "protocol-errors",
    "quota-issues",
    "relaying-issues",
    "routing-errors",
    "spam-related",
    "virus-related",
)

# Text patterns, checked in order; the first that matches names the category. The wordings
# `reasons` reads too are kept there, once.
_TEXT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, re.compile(pattern, re.IGNORECASE))
    for category, pattern in (
        ("virus-related", VIRUS),
        ("invalid-sender", SENDER),
        ("spam-related", rf"spam|{BLOCKLIST}|reputation"),
        ("quota-issues", QUOTA),
        ("inactive-mailbox", INACTIVE),
        ("bad-domain", NO_DOMAIN),
        ("bad-mailbox", NO_MAILBOX),
        ("relaying-issues", RELAYING),
        ("content-related", r"content|message (too large|size)|size exceeds|attachment"),
        ("policy-related", r"policy|dmarc|spf|dkim|authentication|not allowed|rate limit"),
        ("no-answer-from-host", NO_ANSWER),
        ("message-expired", EXPIRY),
        ("routing-errors", r"loop|too many hops|routing|no route"),
        ("protocol-errors", r"syntax|command unrecognized|protocol"),
    )
)

# By enhanced status code (class stripped: `x.1.1`); the subject and detail of RFC 3463.
_CODE_RULES = {
    "1.1": "bad-mailbox",
    "1.0": "other",
    "1.2": "bad-domain",
    "1.3": "bad-mailbox",
    "1.6": "bad-mailbox",
    "1.7": "invalid-sender",
    "1.8": "invalid-sender",
    "1.10": "bad-domain",  # RFC 7505 null MX
    "2.0": "bad-mailbox",
    "2.1": "inactive-mailbox",
    "2.2": "quota-issues",
    "2.3": "content-related",
    "2.4": "routing-errors",
    "3.0": "bad-configuration",
    "3.1": "quota-issues",
    "3.2": "no-answer-from-host",
    "3.4": "content-related",
    "3.5": "bad-configuration",
    "4.0": "routing-errors",
    "4.1": "no-answer-from-host",
    "4.2": "bad-connection",
    "4.3": "routing-errors",
    "4.4": "routing-errors",
    "4.6": "routing-errors",
    "4.7": "message-expired",
    "5.0": "protocol-errors",
    "5.1": "protocol-errors",
    "5.2": "protocol-errors",
    "5.3": "policy-related",
    "5.4": "protocol-errors",
    "6.0": "content-related",
    "7.0": "policy-related",
    "7.1": "policy-related",
    "7.7": "content-related",
    "7.26": "policy-related",
}

# Text categories that win over the enhanced code.
_SPECIFIC = {
    "virus-related",
    "invalid-sender",
    "spam-related",
    "quota-issues",
    "inactive-mailbox",
    "bad-mailbox",
    "bad-domain",
}


@dataclass(frozen=True)
class Classification:
    hard: bool
    category: str
    enhanced_code: str | None
    reason: Reason = Reason.UNDEFINED  # mta/feedback/reasons.py: why, in Sisimai's words


def classify(code: int, text: str, enhanced_code: str | None = None) -> Classification:
    """Classify a reply (`550`, `5.1.1 <x@y>: user unknown`); 5xx is hard, everything else soft.

    The category comes from the reply text when it is specific, else from the enhanced code.
    """
    enhanced = enhanced_code or enhanced_code_of(text)
    hard = code >= 500 if code else bool(enhanced and enhanced.startswith("5"))
    # Words about the address itself are more precise than many servers' codes (Microsoft
    # answers 5.4.1 and 5.1.10 for unknown recipients), so they are read first.
    category = next((name for name, rule in _TEXT_RULES if rule.search(text)), None)
    if category not in _SPECIFIC:
        category = None
    if category is None and enhanced is not None:
        subject_detail = enhanced.split(".", 1)[1]
        if subject_detail not in ("0.0", "7.1", "1.0"):  # too vague: let the text decide
            category = _CODE_RULES.get(subject_detail)
    if category is None:
        category = next((name for name, rule in _TEXT_RULES if rule.search(text)), None)
    if category is None and enhanced is not None:
        category = _CODE_RULES.get(enhanced.split(".", 1)[1])
    reason = reason_of(enhanced, code or None, text)
    return Classification(hard, category or "other", enhanced, reason)


# PowerMTA's categories that say the address is bad, for a bounce registered with its category
# alone (internal.bounce.register), whose words tell no reason.
BAD_ADDRESS_CATEGORIES = frozenset({"bad-mailbox", "bad-domain"})


def suppresses(found: Classification) -> bool:
    """A hard bounce suppresses the address only when the address itself is bad (user unknown,
    host unknown, has moved, accepts no mail). A full mailbox, a filter, a block, a policy or
    spam refusal of our message, an expiry or a network error does not: suppressing on those
    would lose good recipients."""
    if not found.hard:
        return False
    if found.reason is Reason.UNDEFINED:
        return found.category in BAD_ADDRESS_CATEGORIES
    return is_bad_address(found.reason)
