"""MailMarshal SMTP (Trustwave's gateway): the reply stands after `Could not be delivered
because of`, the recipients it concerns are listed, indented, after it.

    Your message:
       From:    sender@example.com
       Subject: Hello

    Could not be delivered because of

    550 5.1.1 User unknown

    The following recipients were affected:
        user@example.org
"""

from __future__ import annotations

import re
from email.message import Message

from mta.feedback.formats.reader import Failure, Reader, between, header, lone_address, text_of

BECAUSE = re.compile(r"^\s*Could not be delivered because of\s*$", re.IGNORECASE)
AFFECTED = re.compile(r"^\s*The following recipients were affected:\s*$", re.IGNORECASE)


def hinted(msg: Message) -> bool:
    return "mailmarshal" in header(msg, "received").lower() or header(
        msg, "subject"
    ).lower().startswith("undeliverable mail:")


def read(msg: Message, lines: list[str]) -> list[Failure]:
    found = between(lines, BECAUSE, AFFECTED)
    if found is None:
        return []
    reply, affected = found
    diagnostic = text_of(reply)
    failures = []
    for line in affected:
        address = lone_address(line)
        if address is None and line.strip():
            break  # the recipients' list ends at the next text
        if address is not None:
            failures.append(Failure(address, diagnostic))
    return failures


READER = Reader("mailmarshal", hinted, read)
