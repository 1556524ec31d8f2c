"""Bounce reasons in Sisimai's vocabulary: why a message was not delivered, finer than PowerMTA's
categories (`bounce_classes`), and the reason decides whether the address itself is bad.

The enhanced status code (RFC 3463) says a lot when it is specific (`5.1.1`, `5.2.2`), nothing
when it is generic (`5.0.0`, `5.7.1`), and is misused by many servers (`5.2.1` for an unknown
user, Microsoft's `5.1.10` for a missing recipient where RFC 7505 means a null MX). So the
reply's words are read first, through a table of wordings ordered from the most to the least
specific; the code decides when no wording is known, then the basic reply code.
"""

from __future__ import annotations

import enum
import re


class Reason(enum.StrEnum):
    """Why a recipient's mail bounced (Sisimai's names)."""

    USERUNKNOWN = "userunknown"  # no such mailbox
    HOSTUNKNOWN = "hostunknown"  # no such domain
    HASMOVED = "hasmoved"  # the mailbox has moved away
    NOTACCEPT = "notaccept"  # the domain accepts no mail (null MX, no MX)
    SUSPEND = "suspend"  # the mailbox is disabled or suspended
    MAILBOXFULL = "mailboxfull"
    FILTERED = "filtered"  # the recipient's own filter refused it
    BLOCKED = "blocked"  # the sending host (its IP) is refused
    BADREPUTATION = "badreputation"  # the sending IP's reputation
    REQUIREPTR = "requireptr"  # the sending IP has no valid reverse DNS
    SPAMDETECTED = "spamdetected"
    VIRUSDETECTED = "virusdetected"
    POLICYVIOLATION = "policyviolation"
    AUTHFAILURE = "authfailure"  # SPF, DKIM, DMARC
    SECURITYERROR = "securityerror"  # TLS or SMTP authentication required or failed
    REJECTED = "rejected"  # the envelope sender is refused
    NORELAYING = "norelaying"
    TOOMANYCONN = "toomanyconn"  # connection or recipient rate limits
    MESGTOOBIG = "mesgtoobig"
    EXCEEDLIMIT = "exceedlimit"  # an administrative size limit (X.2.3)
    CONTENTERROR = "contenterror"  # a malformed message
    NOTCOMPLIANTRFC = "notcompliantrfc"
    SYNTAXERROR = "syntaxerror"  # an SMTP command refused as such
    EXPIRED = "expired"  # retried until the queue gave up
    NETWORKERROR = "networkerror"  # DNS failures, timeouts, lost connections, loops
    SYSTEMERROR = "systemerror"  # the remote system's own failure
    SYSTEMFULL = "systemfull"  # the remote system's disk
    MAILERERROR = "mailererror"  # a local delivery program failed
    UNDEFINED = "undefined"  # no reason can be told


# The address itself is bad: a sender should stop mailing it.
BAD_ADDRESS = frozenset({Reason.USERUNKNOWN, Reason.HOSTUNKNOWN, Reason.HASMOVED, Reason.NOTACCEPT})

# Wordings both this module and `bounce_classes` (PowerMTA's categories) read.
VIRUS = r"virus|malware|infected"
QUOTA = (
    r"quota|mailbox (is )?full|over ?limit|insufficient (storage|space)|"
    r"(mail ?folder|inbox|mailbox) is full|out of storage|storage space"
)
INACTIVE = r"inactive|disabled|deactivated|suspended|expired account|dormant"
BLOCKLIST = r"blacklist|blocklist|block ?list|\bRBL\b|\bDNSBL\b|spamhaus|spamcop|sorbs"
RELAYING = (
    r"relay(ing)? (access )?(denied|prohibited)|not (permitted|configured|allowed) to relay|"
    r"relay not"
)
SENDER = r"sender (address )?rejected|invalid sender|sender verify"
NO_ANSWER = r"timed? ?out|connection refused|no answer|unreachable"
EXPIRY = r"expired|too long in (the )?queue"
NO_DOMAIN = (
    r"domain (name )?(\S+ )?(not found|does not exist)|host (or domain name )?(not found|unknown)|"
    r"nxdomain|unrouteable address|null mx|bad destination system address"
)
NO_MAILBOX = (
    r"user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|"
    r"mailbox unavailable|invalid (recipient|mailbox)|recipient ?not ?found|"
    r"undeliverable address|bad destination mailbox address|"
    # Microsoft's directory-based edge blocking; Postfix's bare "Recipient address rejected:"
    # prefixes any restriction (mailbox full, no relaying, ...), so it says nothing alone.
    r"recipient address rejected: access denied"
)

# Wordings, most specific first: words about the sender, the sending host and the message come
# before the recipient's (a refused sender's domain "does not exist" too), a full or disabled
# mailbox before a blocked host ("the recipient account is blocked") and a missing mailbox.
_WORDS: tuple[tuple[Reason, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        (Reason.VIRUSDETECTED, VIRUS),
        (
            Reason.AUTHFAILURE,
            r"\bdmarc\b|spf (record|check|validation|fail|hard)|fails? (to pass )?spf|"
            r"dkim (check|verification|fail)|unauthenticated (e-?mail|message)",
        ),
        (
            Reason.REQUIREPTR,
            r"reverse dns|\brdns\b|\bptr\b|reverse (lookup|hostname)|unverif\w*able sending ip|"
            r"cannot find your (host ?name|reverse)",
        ),
        (Reason.BADREPUTATION, r"reputation|(volume|user) complaints"),
        (
            Reason.TOOMANYCONN,
            r"too many (connections|concurrent|sessions|recipients)|rate limit|"
            r"frequency limited|connection limit",
        ),
        (Reason.NORELAYING, RELAYING),
        (
            Reason.REJECTED,
            rf"{SENDER}|sender (address )?(refused|denied|unknown|invalid)|"
            r"sender (address |domain )?(does not exist|not found)|"
            r"domain of sender address|purported responsible address",
        ),
        (
            Reason.SECURITYERROR,
            r"(authentication|tls|encryption|starttls) (is )?required|must issue a starttls|"
            r"certificate (verif|invalid|expired)",
        ),
        (Reason.MAILBOXFULL, QUOTA),
        (
            Reason.SUSPEND,
            rf"{INACTIVE}|frozen|discontinued|(account|mailbox) (is |has been )?(blocked|locked)",
        ),
        (Reason.SPAMDETECTED, r"\bspam\b|\bUBE\b|junk mail|bulk mail|message content rejected"),
        (
            Reason.BLOCKED,
            rf"{BLOCKLIST}|\bblocked\b|client host (\[\S+\] )?rejected|banned sending ip|"
            r"not accepting connections|smtp server of your isp",
        ),
        (Reason.NOTCOMPLIANTRFC, r"rfc ?5322|not (rfc )?compliant|multiple addresses in from"),
        (
            Reason.CONTENTERROR,
            r"duplicate header|headers? too (large|long)|too many headers|"
            r"malformed (message|header|mime)|invalid (mime|header)",
        ),
        (Reason.POLICYVIOLATION, r"polic(y|ies)|not allowed|prohibited"),
        (
            Reason.MESGTOOBIG,
            r"message (is |was )?too (large|big)|message size|size (limit|exceeds)|"
            r"exceeds (the )?(maximum |fixed )?(message )?size|sizelimit",
        ),
        (Reason.FILTERED, r"filtered|recipient('s)? (preferences|filter)|content filter"),
        (
            Reason.HASMOVED,
            r"no longer (on (this )?server|here|at this (address|domain))|has moved|"
            r"user not local|not our user",
        ),
        (
            Reason.NOTACCEPT,
            r"null mx|(doesn't|does not|do not) (receive|accept) (e-?)?mail|accepts no mail|"
            r"no (smtp|mail) service|indicated no smtp|no mx (record )?(found|for)|"
            r"(couldn't|could not) find a mail exchanger",
        ),
        (
            Reason.MAILERERROR,
            r"\bpipe to\b|procmail|maildrop|mailer (error|died)|command died|delivery program",
        ),
        (
            Reason.HOSTUNKNOWN,
            rf"{NO_DOMAIN}|unknown host|invalid domain|no such domain|"
            r"(couldn't|could not) find any host|domain is not reachable|"
            r"(?<![@\w.-])[\w-]+(\.[\w-]+)+ does not exist",
        ),
        (
            Reason.USERUNKNOWN,
            rf"{NO_MAILBOX}|unknown recipient|recipient name is not recognized|"
            r"(user|recipient|address|mailbox|account) (does )?not (found|exist)|"
            r"unknown or illegal (user|alias)|no mailbox here|doesn't have an? \S+ account|"
            r"invalid (final delivery userid|address)|recip(ient)?notfound|"
            r"not a valid (recipient|user|mailbox)|no such address|unknown mailbox|"
            r"(address|recipient|mailbox) unknown|destinataire invalide",
        ),
        (
            Reason.NETWORKERROR,
            rf"{NO_ANSWER}|connection (reset|lost|closed)|lost connection|no route to host|"
            r"not reachable|unable to connect|could not connect|"
            r"(wasn't|was not) able to establish|dns error|name service error|"
            r"routing loop|hop count exceeded|too many hops|mail loop",
        ),
        (
            Reason.SYSTEMERROR,
            r"system error|internal (server )?error|unable to contact|could not load|"
            r"configuration error|insufficient permission|service (is )?(currently |temporarily )?"
            r"(unavailable|not available)",
        ),
        (Reason.EXPIRED, rf"{EXPIRY}|in the queue too long|giving up"),
        (
            Reason.SYNTAXERROR,
            r"syntax error|command unrecognized|unrecognized command|"
            r"(improper|bad) sequence of commands",
        ),
    )
)

# By enhanced status code without its class (`1.1` of `5.1.1`). Generic codes (`0.0`, `7.0`,
# `7.1`, `5.0`, `2.0`, `1.0`) are missing on purpose: they say nothing the words would not.
_CODES = {
    "1.1": Reason.USERUNKNOWN,
    "1.2": Reason.HOSTUNKNOWN,
    "1.3": Reason.USERUNKNOWN,  # bad mailbox syntax
    "1.6": Reason.HASMOVED,
    "1.7": Reason.REJECTED,
    "1.8": Reason.REJECTED,
    "1.10": Reason.USERUNKNOWN,  # Microsoft's RecipientNotFound; a null MX says so in words
    "2.1": Reason.SUSPEND,
    "2.2": Reason.MAILBOXFULL,
    "2.3": Reason.EXCEEDLIMIT,
    "3.0": Reason.SYSTEMERROR,
    "3.1": Reason.SYSTEMFULL,
    "3.2": Reason.SYSTEMERROR,
    "3.4": Reason.MESGTOOBIG,
    "3.5": Reason.SYSTEMERROR,
    "4.0": Reason.NETWORKERROR,
    "4.1": Reason.NETWORKERROR,
    "4.2": Reason.NETWORKERROR,
    "4.3": Reason.SYSTEMERROR,  # directory server failure
    "4.4": Reason.HOSTUNKNOWN,
    "4.6": Reason.NETWORKERROR,  # routing loop
    "4.7": Reason.EXPIRED,
    "5.1": Reason.SYNTAXERROR,
    "5.2": Reason.SYNTAXERROR,
    "5.3": Reason.TOOMANYCONN,  # too many recipients
    "5.4": Reason.SYNTAXERROR,
    "6.0": Reason.CONTENTERROR,
    "6.1": Reason.CONTENTERROR,
    "6.2": Reason.CONTENTERROR,
    "6.3": Reason.CONTENTERROR,
    "6.5": Reason.CONTENTERROR,
    "7.2": Reason.REJECTED,
    "7.4": Reason.SECURITYERROR,
    "7.5": Reason.SECURITYERROR,
    "7.7": Reason.SECURITYERROR,
    "7.8": Reason.SECURITYERROR,
    "7.9": Reason.POLICYVIOLATION,  # Yahoo's; RFC 4954's weak AUTH mechanism is no bounce
    "7.10": Reason.SECURITYERROR,
    "7.11": Reason.SECURITYERROR,
    "7.13": Reason.SUSPEND,
    "7.20": Reason.AUTHFAILURE,
    "7.21": Reason.AUTHFAILURE,
    "7.22": Reason.AUTHFAILURE,
    "7.23": Reason.AUTHFAILURE,
    "7.24": Reason.AUTHFAILURE,
    "7.25": Reason.REQUIREPTR,
    "7.26": Reason.AUTHFAILURE,
    "7.27": Reason.REJECTED,  # the sender's domain has a null MX
}

# By basic reply code (RFC 5321), when neither words nor enhanced code tell.
_REPLY_CODES = {
    500: Reason.SYNTAXERROR,
    501: Reason.SYNTAXERROR,
    502: Reason.SYNTAXERROR,
    503: Reason.SYNTAXERROR,
    504: Reason.SYNTAXERROR,
    551: Reason.HASMOVED,  # user not local
}

# The continuation prefixes of a multi-line reply joined into one (`... multiple 550-5.7.1
# addresses ...`): they split the words.
_CONTINUATION = re.compile(r"\b[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b")
_TRY_AGAIN = re.compile(r"not found, try again|temporar", re.IGNORECASE)


def reason_of(
    enhanced_code: str | None, reply_code: int | None, diagnostic: str, command: str | None = None
) -> Reason:
    """The reason of a bounce, from its enhanced status (`5.1.1`), its reply code (550) and the
    remote server's words; `undefined` when none of them tells.

    `command` is the SMTP command the reply answered, where the bounce names it (`RCPT`,
    `DATA`): an "unknown user" in reply to DATA comes from a server that accepted the recipient
    at RCPT, so it is a filter's refusal of this message, not proof the address is bad.
    """
    text = " ".join(_CONTINUATION.sub(" ", diagnostic).split())
    reason = next((reason for reason, words in _WORDS if words.search(text)), None)
    if reason is None and enhanced_code:
        reason = _CODES.get(enhanced_code.split(".", 1)[1])
    if reason is None and reply_code:
        reason = _REPLY_CODES.get(reply_code)
    if reason is Reason.HOSTUNKNOWN and _temporary(enhanced_code, reply_code, text):
        return Reason.NETWORKERROR  # a DNS failure said to pass is no proof the domain is gone
    if reason is Reason.USERUNKNOWN and command is not None and command.upper() == "DATA":
        return Reason.FILTERED
    return reason or Reason.UNDEFINED


def _temporary(enhanced_code: str | None, reply_code: int | None, text: str) -> bool:
    soft_code = bool(enhanced_code and enhanced_code.startswith("4"))
    return soft_code or 400 <= (reply_code or 0) < 500 or bool(_TRY_AGAIN.search(text))


def is_bad_address(reason: Reason) -> bool:
    """The address itself is bad (no such user or domain, moved, accepts no mail), as opposed
    to a refusal of this message, a full mailbox or a passing failure."""
    return reason in BAD_ADDRESS
