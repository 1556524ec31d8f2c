"""SMTP replies: named constants shared by the server and the tests, and enhanced status codes.

Mailgate advertises ENHANCEDSTATUSCODES (RFC 2034), so every 2xx/4xx/5xx reply must carry one,
including the replies aiosmtpd writes itself; `with_enhanced_code` adds the right one to those.
"""

from __future__ import annotations

import re

OK = "250 2.0.0 OK"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
AUTH_LOCKED = "421 4.7.0 Too many failed authentication attempts; try again later"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
AUTH_NEEDS_TLS = "538 5.7.11 Encryption required for requested authentication mechanism"
STARTTLS_REQUIRED = "530 5.7.0 Must issue a STARTTLS command first"
RELAY_DENIED = "550 5.7.1 Relay access denied"
TOO_MANY_RECIPIENTS = "452 4.5.3 Error: too many recipients"
MESSAGE_TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"
BARE_LINE_ENDING = "550 5.5.2 Message refused: bare <LF> or <CR> line ending (RFC 5321 2.3.8)"
TOO_MANY_HOPS = "554 5.4.6 Too many hops: mail loop suspected"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure storing the message; try again later"
BAD_SENDER = "501 5.1.7 Bad sender address syntax"
BAD_RECIPIENT = "501 5.1.3 Bad recipient address syntax"
NEEDS_SMTPUTF8 = "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)"
MISSING_FROM_HEADER = "550 5.6.0 Message has no valid From: header"


def queued(queue_id: str) -> str:
    return f"250 2.0.0 Ok: queued as {queue_id}"


ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}(?: |$)")

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
