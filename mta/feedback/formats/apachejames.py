"""Apache James, the Java mail server: the error, the remote server's reply below `Error
message below:`, then the message's details with one `RCPT TO:` line per recipient.

    Error: Invalid user address

    Error message below:
    550 - Requested action not taken: no such user here

    Message details:
      Subject: Test message
      MAIL FROM: sender@example.com
      RCPT TO: user@example.org
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import getaddresses

from mta.feedback.formats.reader import Failure, Reader, between, header, text_of

BELOW = re.compile(r"^\s*Error message below:\s*$", re.IGNORECASE)
DETAILS = re.compile(r"^\s*Message details:\s*$", re.IGNORECASE)
RCPT = re.compile(r"^\s*RCPT TO:\s*(.+)$", re.IGNORECASE)


def hinted(msg: Message) -> bool:
    return ".javamail." in header(msg, "message-id").lower()


def read(msg: Message, lines: list[str]) -> list[Failure]:
    lines = lines or _unsplit(msg)
    found = between(lines, BELOW, DETAILS)
    if found is None:
        return []
    reply, details = found
    diagnostic = text_of(reply)
    failures = []
    for line in details:
        if not line.strip():
            break
        if match := RCPT.match(line):
            for _, address in getaddresses([match.group(1)]):
                if "@" in address:
                    failures.append(Failure(address.lower(), diagnostic))
    return failures


def _unsplit(msg: Message) -> list[str]:
    """The lines of a multipart part the email package could not split: James's multipart
    Content-Type sometimes arrives with its boundary parameter on an unfolded line, and the
    text part inside is then no part of its own."""
    return [
        line
        for part in msg.walk()
        if part.get_content_maintype() == "multipart" and not part.is_multipart()
        for line in str(part.get_payload()).splitlines()
    ]


READER = Reader("apachejames", hinted, read)
