"""SMTP replies: named constants shared by the server and the tests, and enhanced status codes.

Mailgate advertises ENHANCEDSTATUSCODES (RFC 2034), so every 2xx/4xx/5xx reply must carry one,
including the replies aiosmtpd writes itself; `with_enhanced_code` adds the right one to those.

A refusing reply of ours is a `Refused`: the text together with the `Reason` it was decided
for, which the server logs and counts (mailgate_smtp_refusals_total's `reason` label). The
reason travels with the reply from where the refusal is decided; it is never read back from the
text. aiosmtpd's own refusals get theirs from `builtin_reason`.
"""

from __future__ import annotations

import enum
import re
from typing import Self


class Reason(enum.StrEnum):
    """Why a command or a message was refused: the closed vocabulary of the refusal log lines and
    counter, and of the submission path's refusals (`SUBMISSION_REASONS`), which every surface
    turns into its own answer through one table of its own."""

    SIZE = "size"  # SIZE= at MAIL, or the message, over the size limit
    RECIPIENTS = "recipients"  # more recipients than one message may have
    NO_RECIPIENTS = "no_recipients"  # a message without a recipient left to send to
    RECIPIENT_SYNTAX = "recipient_syntax"  # a recipient that is not an address
    RELAY_DENIED = "relay_denied"  # unauthenticated mail for a domain we do not relay for
    AUTH_REQUIRED = "auth_required"  # MAIL on a submission port before AUTH
    AUTH_FAILED = "auth_failed"  # wrong credentials
    THROTTLED = "throttled"  # too many failed AUTH attempts from the address
    AUTH_BUSY = "auth_busy"  # too many password checks already running in the process
    TLS_REQUIRED = "tls_required"  # a command, or AUTH, that must wait for STARTTLS
    TLS_UNAVAILABLE = "tls_unavailable"  # STARTTLS when TLS is already on, or not offered
    SENDER_SYNTAX = "sender_syntax"  # an envelope sender that is not an address
    SENDER_DOMAIN = "sender_domain"  # the sender domain is not registered (or none is given)
    SENDER_ADDRESS = "sender_address"  # a sending address outside the sender domain
    DOMAIN_INACTIVE = "domain_inactive"  # the sender domain is not Enabled
    ACCOUNT_UNVERIFIED = "account_unverified"  # the domain's account is not confirmed yet
    ACCOUNT_UNTRUSTED = "account_untrusted"  # the domain's account is not trusted to send
    ACCOUNT_DISABLED = "account_disabled"  # the domain's account is deactivated or suspended
    SEND_LIMIT = "send_limit"  # the account's hourly or daily limit
    SUPPRESSED = "suppressed"  # the recipient is on a suppression list
    SYNTAX = "syntax"  # a command that cannot be parsed
    SEQUENCE = "sequence"  # a command out of order (RCPT before MAIL, a second AUTH, ...)
    UNSUPPORTED = "unsupported"  # a command, parameter or mechanism we do not implement
    SMTPUTF8 = "smtputf8"  # a non-ASCII address without the SMTPUTF8 parameter
    LINE_ENDINGS = "line_endings"  # bare CR or LF in the message
    LOOP = "loop"  # too many Received: headers
    HEADERS = "headers"  # a header section that is not RFC 5322 fields (or two From fields)
    FROM_HEADER = "from_header"  # no From: header with an address
    STORAGE = "storage"  # the queue could not store the message (temporary)
    INTERNAL = "internal"  # an unexpected error (temporary)
    SHUTDOWN = "shutdown"  # the server is stopping
    OTHER = "other"  # a refusal nobody named: a bug to fix here, never a client's fault


class Refused(str):
    """A refusing reply that knows its `reason`, and fields for its log line (`sender`,
    `recipient`, `username`: values as the client sent them; the log line escapes them)."""

    reason: Reason
    fields: dict[str, str]

    def __new__(cls, text: str, reason: Reason, fields: dict[str, str] | None = None) -> Self:
        reply = super().__new__(cls, text)
        reply.reason = reason
        reply.fields = fields or {}
        return reply

    def detailed(self, detail: str) -> Refused:
        """`550 5.7.1 Relay access denied: <x@y>`: the same refusal, with its detail."""
        return Refused(f"{self}: {detail}" if detail else str(self), self.reason, self.fields)

    def noting(self, **fields: str) -> Refused:
        """The same reply, with fields for its log line."""
        return Refused(str(self), self.reason, {**self.fields, **fields})


OK = "250 2.0.0 OK"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_INVALID = Refused("535 5.7.8 Authentication credentials invalid", Reason.AUTH_FAILED)
AUTH_LOCKED = Refused(
    "421 4.7.0 Too many failed authentication attempts; try again later", Reason.THROTTLED
)
# RFC 4954's reply for a verification that cannot run now; the client may try again.
AUTH_BUSY = Refused("454 4.7.0 Temporary authentication failure; try again later", Reason.AUTH_BUSY)
AUTH_REQUIRED = Refused("530 5.7.0 Authentication required", Reason.AUTH_REQUIRED)
AUTH_BAD_BASE64 = Refused("501 5.5.2 Can't decode base64", Reason.SYNTAX)
AUTH_BAD_PLAIN = Refused("501 5.5.2 Can't split auth value", Reason.SYNTAX)
STARTTLS_REQUIRED = Refused("530 5.7.0 Must issue a STARTTLS command first", Reason.TLS_REQUIRED)
STARTTLS_SYNTAX = Refused("501 5.5.4 Syntax: STARTTLS", Reason.SYNTAX)
TLS_UNAVAILABLE = Refused("454 4.7.0 TLS not available", Reason.TLS_UNAVAILABLE)
TOO_MANY_RECIPIENTS = Refused("452 4.5.3 Error: too many recipients", Reason.RECIPIENTS)
BARE_LINE_ENDING = Refused(
    "550 5.5.2 Message refused: bare <LF> or <CR> line ending (RFC 5321 2.3.8)",
    Reason.LINE_ENDINGS,
)
TOO_MANY_HOPS = Refused("554 5.4.6 Too many hops: mail loop suspected", Reason.LOOP)
TEMPORARY_FAILURE = Refused(
    "451 4.3.0 Temporary failure storing the message; try again later", Reason.STORAGE
)
INTERNAL_ERROR = Refused("451 4.3.0 Internal error; try again later", Reason.INTERNAL)
SHUTTING_DOWN = Refused("421 4.3.2 Service shutting down", Reason.SHUTDOWN)
BAD_SENDER = Refused("501 5.1.7 Bad sender address syntax", Reason.SENDER_SYNTAX)
BAD_RECIPIENT = Refused("501 5.1.3 Bad recipient address syntax", Reason.RECIPIENT_SYNTAX)
NEEDS_SMTPUTF8 = Refused(
    "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)", Reason.SMTPUTF8
)
MISSING_FROM_HEADER = Refused("550 5.6.0 Message has no valid From: header", Reason.FROM_HEADER)
MALFORMED_HEADER = Refused("554 5.6.0 Message header is malformed", Reason.HEADERS)
MESSAGE_TOO_BIG = Refused("552 5.3.4 Message size exceeds fixed maximum message size", Reason.SIZE)
NO_RECIPIENTS = Refused("554 5.5.1 No valid recipients", Reason.NO_RECIPIENTS)
INVALID_SENDER_DOMAIN = Refused("553 5.7.1 Invalid sender domain", Reason.SENDER_DOMAIN)
SENDER_OUTSIDE_DOMAIN = Refused("553 5.7.1 Invalid sender domain", Reason.SENDER_ADDRESS)
DOMAIN_NOT_ACTIVE = Refused("550 5.7.1 Sender domain is not active", Reason.DOMAIN_INACTIVE)
INVALID_USER = Refused("550 5.7.1 Invalid user account", Reason.ACCOUNT_UNVERIFIED)
USER_NOT_TRUSTED = Refused("550 5.7.1 User is not trusted or not enabled", Reason.ACCOUNT_UNTRUSTED)
USER_NOT_ENABLED = Refused("550 5.7.1 User is not trusted or not enabled", Reason.ACCOUNT_DISABLED)
RECIPIENT_SUPPRESSED = Refused("550 5.7.1 Recipient email address is suppressed", Reason.SUPPRESSED)
SEND_LIMIT = Refused("451 4.7.1 Sending limit reached; try again later", Reason.SEND_LIMIT)
RELAY_DENIED = Refused("550 5.7.1 Relay access denied", Reason.RELAY_DENIED)

# The reasons the submission path (mta/submission/submit.py) refuses a message for; every surface
# that submits has an answer for each (tests/http_api/test_refusal_tables.py holds each table
# complete).
SUBMISSION_REASONS = frozenset(
    {
        Reason.SENDER_SYNTAX, Reason.SENDER_DOMAIN, Reason.SENDER_ADDRESS, Reason.DOMAIN_INACTIVE,
        Reason.ACCOUNT_UNVERIFIED, Reason.ACCOUNT_UNTRUSTED, Reason.ACCOUNT_DISABLED,
        Reason.RELAY_DENIED, Reason.RECIPIENT_SYNTAX, Reason.RECIPIENTS, Reason.NO_RECIPIENTS,
        Reason.SUPPRESSED, Reason.SEND_LIMIT, Reason.SIZE, Reason.LOOP, Reason.LINE_ENDINGS,
        Reason.HEADERS, Reason.FROM_HEADER,
    }
)  # fmt: skip

# The SMTP surface's table: a submission refusal as the SMTP reply that states it (its detail
# appended, see `Refused.detailed`). smtprelay answers with these replies too.
SUBMISSION_REPLIES: dict[Reason, Refused] = {
    reply.reason: reply
    for reply in (
        BAD_SENDER, INVALID_SENDER_DOMAIN, SENDER_OUTSIDE_DOMAIN, DOMAIN_NOT_ACTIVE, INVALID_USER,
        USER_NOT_TRUSTED, USER_NOT_ENABLED, RELAY_DENIED, BAD_RECIPIENT, TOO_MANY_RECIPIENTS,
        NO_RECIPIENTS, RECIPIENT_SUPPRESSED, SEND_LIMIT, MESSAGE_TOO_BIG, TOO_MANY_HOPS,
        BARE_LINE_ENDING, MALFORMED_HEADER, MISSING_FROM_HEADER,
    )
}  # fmt: skip

# aiosmtpd's own refusals, by basic code. In aiosmtpd 1.4 each of these codes has one cause
# there (552: SIZE= or the message over data_size_limit; 530: a command before STARTTLS; 538:
# AUTH before TLS; 554: a failed TLS handshake; 503: a command out of sequence); Mailgate's own
# refusals carry their reason and never come here.
_BUILTIN_REASONS = {
    "500": Reason.SYNTAX,
    "501": Reason.SYNTAX,
    "502": Reason.UNSUPPORTED,
    "503": Reason.SEQUENCE,
    "504": Reason.UNSUPPORTED,
    "530": Reason.TLS_REQUIRED,
    "538": Reason.TLS_REQUIRED,
    "552": Reason.SIZE,
    "553": Reason.SYNTAX,
    "554": Reason.TLS_REQUIRED,
    "555": Reason.UNSUPPORTED,
}


def builtin_reason(reply: str) -> Reason:
    """The reason of a refusal aiosmtpd decided and wrote itself."""
    return _BUILTIN_REASONS.get(reply[:3], Reason.OTHER)


def queued(queue_id: str) -> str:
    return f"250 2.0.0 Ok: queued as {queue_id}"


ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}(?: |$)")
# An enhanced code anywhere in a reply's text (`550 5.1.1 <x@y>: user unknown`, or a bounce's
# diagnostic where the code stands after the remote host's name): a subject of 0-7 (RFC 3463),
# and not a piece of a longer dotted number (`192.0.2.4`, Yahoo's `4.16.55.1`).
ENHANCED_IN_TEXT = re.compile(r"(?<![\w.])[245]\.[0-7]\.\d{1,3}(?!\.?\d)")


def own_enhanced_code(reply: str) -> str | None:
    """The enhanced code a reply carries in its place, right after its code (`550 5.1.1 ...`);
    None for a reply without one (the greeting, EHLO), whatever its text names (`4.4.4.4`)."""
    match = ENHANCED.match(reply[4:])
    return match.group(0).rstrip() if match else None


def enhanced_code_of(text: str) -> str | None:
    match = ENHANCED_IN_TEXT.search(text)
    return match.group(0) if match else None


# aiosmtpd's own replies, by their text, and the enhanced code Postfix would give them.
_BUILTIN = (
    ("Error: bad syntax", "5.5.2"),
    ("Command line too long", "5.5.2"),
    ("Line too long", "5.5.2"),
    ("Error: strict ASCII mode", "5.6.7"),
    ("Command refused due to lack of security", "5.7.0"),
    ("Must issue a STARTTLS command first", "5.7.0"),
    ("parameters not recognized", "5.5.4"),  # before "not recognized" (555, RFC 5321)
    ("not recognized", "5.5.2"),
    ("send HELO first", "5.5.1"),
    ("send EHLO first", "5.5.1"),
    ("Already authenticated", "5.5.1"),
    ("nested MAIL command", "5.5.1"),
    ("need MAIL command", "5.5.1"),
    ("need RCPT command", "5.5.1"),
    ("Too much mail data", "5.3.4"),
    ("message size exceeds fixed maximum", "5.3.4"),
    ("TLS not available", "4.7.0"),
    ("EXPN not implemented", "5.5.1"),
    ("Could not VRFY", "5.5.1"),
    ("Cannot VRFY", "2.5.2"),
    ("Syntax:", "5.5.4"),
    ("Not enough value", "5.5.4"),
    ("Too many values", "5.5.4"),
    ("SMTPUTF8", "5.5.4"),
    ("BODY can only be", "5.5.4"),
)

_BY_CODE = {
    "250": "2.0.0",
    "251": "2.1.5",
    "252": "2.5.2",
    "220": "2.0.0",
    "221": "2.0.0",
    "235": "2.7.0",
    "421": "4.3.0",
    "450": "4.2.0",
    "451": "4.3.0",
    "452": "4.3.1",
    "454": "4.7.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "535": "5.7.8",
    "550": "5.0.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.0.0",
    "555": "5.5.4",
}


def with_enhanced_code(reply: str) -> str:
    """`552 Error: Too much mail data` -> `552 5.3.4 Error: Too much mail data`.

    Replies that have a code already, intermediate replies (3xx) and malformed ones pass as they
    are.
    """
    code, sep, text = reply[:3], reply[3:4], reply[4:]
    if not code.isdigit() or code[0] not in "245" or sep not in (" ", "-", ""):
        return reply
    if ENHANCED.match(text):
        return reply
    enhanced = next((value for needle, value in _BUILTIN if needle in text), None)
    if enhanced is None:
        enhanced = _BY_CODE.get(code, f"{code[0]}.0.0")
    if enhanced[0] != code[0]:
        enhanced = code[0] + enhanced[1:]
    return f"{code}{sep or ' '}{enhanced} {text}".rstrip()
