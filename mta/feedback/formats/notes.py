"""Lotus Notes (Domino's older SMTP MTA): a plain-text bounce whose failure section lists each
recipient on its own line below the reason, in the server's language and charset.

    ------- Failure Reasons  --------

    User  not listed in public Name & Address Book
    user@example.com

    ------- Returned Message --------
"""

from __future__ import annotations

import re
from email.message import Message

from mta.feedback.formats.reader import Failure, Reader, between, header, lone_address

REASONS = re.compile(r"^-+\s*Failure Reasons\s*-+\s*$", re.IGNORECASE)
RETURNED = re.compile(r"^-+\s*Returned Message\s*-+\s*$", re.IGNORECASE)


def hinted(msg: Message) -> bool:
    return header(msg, "subject").strip().lower() == "undeliverable message"


def read(msg: Message, lines: list[str]) -> list[Failure]:
    found = between(lines, REASONS, RETURNED)
    if found is None:
        return []
    failures: list[Failure] = []
    said: list[str] = []
    for line in found[0]:
        if address := lone_address(line):
            failures.append(Failure(address, "\n".join(said)))
            said = []
        elif line.strip():
            said.append(line.strip())
    return failures


READER = Reader("notes", hinted, read)
