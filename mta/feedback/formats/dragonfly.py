"""DragonFly Mail Agent (dma), the small MTA of DragonFly BSD and others: a plain-text bounce,
one per failed recipient.

    This is the DragonFly Mail Agent v0.13 at df.example.jp.

    There was an error delivering your mail to <user@example.org>.

    mx.example.org [192.0.2.25] did not like our RCPT TO:
    550 5.1.1 <user@example.org>: Recipient address rejected: User unknown

    Message headers follow.        (or: Original message follows.)

When dma gives up without a reply, the paragraph says why ("Could not deliver for the last
432000 seconds. Giving up.").
"""

from __future__ import annotations

import re
from email.message import Message

from mta.feedback.formats.reader import Failure, Reader, header

INTRO = re.compile(r"^This is the DragonFly Mail Agent\b", re.IGNORECASE)
RECIPIENT = re.compile(r"^There was an error delivering your mail to <([^<>\s]+@[^<>\s]+)>")
ENCLOSED = re.compile(r"^(Message headers follow|Original message follows)\.?\s*$")
# The host line above the remote server's reply: `mx [192.0.2.25] did not like our RCPT TO:`.
DID_NOT_LIKE = re.compile(r"\bdid not like our [^:]+:\s*$")


def hinted(msg: Message) -> bool:
    return "DragonFly Mail Agent" in header(msg, "received")


def read(msg: Message, lines: list[str]) -> list[Failure]:
    if not any(INTRO.match(line) for line in lines[:20]):
        return []
    failures = []
    for at, line in enumerate(lines):
        if match := RECIPIENT.match(line):
            diagnostic = _error(lines[at + 1 :])
            failures.append(Failure(match.group(1).lower(), diagnostic))
    return failures


def _error(lines: list[str]) -> str:
    """The error paragraph(s) up to the enclosed message; the server's reply alone when dma
    names the host that refused."""
    said: list[str] = []
    for line in lines:
        if ENCLOSED.match(line.strip()) or RECIPIENT.match(line):
            break
        if DID_NOT_LIKE.search(line):
            said = []  # what follows is the reply itself
        elif line.strip():
            said.append(line)
    return "\n".join(said)


READER = Reader("dragonfly", hinted, read)
