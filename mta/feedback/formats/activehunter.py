"""Active!Hunter, a Japanese mail filter gateway: a multipart/report without a delivery-status
part; its text names each recipient after `>>>` and the reply in a sendmail-like transcript.

      ----- The following addresses had permanent fatal errors -----

    >>> user@example.org <user@example.org>

      ----- Transcript of session follows -----
    550 sorry, no mailbox here by that name (#5.1.1 - chkusr)
"""

from __future__ import annotations

import re
from email.message import Message

from mta.feedback.formats.reader import Failure, Reader, header

FATAL = re.compile(r"^\s*-+\s*The following addresses had permanent fatal errors\s*-+", re.I)
TRANSCRIPT = re.compile(r"^\s*-+\s*Transcript of session follows\s*-+\s*$", re.IGNORECASE)
RECIPIENT = re.compile(r"^>>>\s*<?([^\s<>]+@[^\s<>]+?)>?(\s|$)")


def hinted(msg: Message) -> bool:
    return msg.get("x-ahmailid") is not None or "active!hunter" in header(msg, "received").lower()


def read(msg: Message, lines: list[str]) -> list[Failure]:
    if not hinted(msg):  # the layout is sendmail's: the gateway's own header tells it apart
        return []
    start = next((i for i, line in enumerate(lines) if FATAL.match(line)), None)
    end = next((i for i, line in enumerate(lines) if TRANSCRIPT.match(line)), None)
    if start is None or end is None or end < start:
        return []
    reply = "\n".join(_paragraph(lines[end + 1 :]))
    return [
        Failure(match.group(1).lower(), reply)
        for line in lines[start + 1 : end]
        if (match := RECIPIENT.match(line.strip()))
    ]


def _paragraph(lines: list[str]) -> list[str]:
    """The first paragraph of the lines: the reply the transcript holds."""
    said: list[str] = []
    for line in lines:
        if line.strip():
            said.append(line)
        elif said:
            break
    return said


READER = Reader("activehunter", hinted, read)
