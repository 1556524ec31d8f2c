"""A gateway's bounce (Sisimai's "X6") that sums up each failure in one sentence, naming the
recipients and quoting the remote server's reply in brackets.

    We had trouble delivering your message. Full details follow:
    ...
    The following recipients returned permanent errors: user@example.org. Reason: SMTP Server
    <192.0.2.223> refused to accept your message (DATA), with the following error message:
    [554 5.4.6 Hop count exceeded - possible mail loop]
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import getaddresses

from mta.feedback.formats.reader import Action, Failure, Reader, header

INTRO = re.compile(r"^We had trouble delivering your message\. Full details follow:", re.I)
SUMMARY = re.compile(
    r"^The following recipients returned (permanent|temporary) errors:\s*(.+?)\.\s+Reason:\s*(.*)$",
    re.IGNORECASE,
)
QUOTED_REPLY = re.compile(r"\[([245]\d\d\b[^\]]*)\]")


def hinted(msg: Message) -> bool:
    return header(msg, "subject").strip().lower() == "there was an error sending your mail"


def read(msg: Message, lines: list[str]) -> list[Failure]:
    if not any(INTRO.match(line) for line in lines):
        return []
    failures = []
    for line in lines:
        if match := SUMMARY.match(line.strip()):
            action: Action = "failed" if match.group(1).lower() == "permanent" else "delayed"
            reply = QUOTED_REPLY.search(match.group(3))
            diagnostic = reply.group(1) if reply else match.group(3)
            for _, address in getaddresses([match.group(2)]):
                if "@" in address:
                    failures.append(Failure(address.lower(), diagnostic, action=action))
    return failures


READER = Reader("x6", hinted, read)
