"""Amazon WorkMail: a multipart/mixed (not a multipart/report) whose text part lists the failed
recipients, then, after `Technical report:`, DSN fields written as plain text.

    An error occurred while trying to deliver the mail to the following recipients:
    user@example.org

    Technical report:

    Reporting-MTA: dsn; a27-85.smtp-out.us-west-2.amazonses.com

    Action: failed
    Final-Recipient: rfc822; user@example.org
    Diagnostic-Code: smtp; 550 5.1.1 <user@example.org>... User Unknown
    Status: 5.1.1
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr

from mta.feedback.formats.reader import Failure, Reader, header

LEAD_IN = re.compile(r"^An error occurred while trying to deliver the mail to", re.IGNORECASE)
REPORT = re.compile(r"^Technical report:\s*$", re.IGNORECASE)


def hinted(msg: Message) -> bool:
    return "amazon workmail" in header(msg, "x-mailer").lower()


def read(msg: Message, lines: list[str]) -> list[Failure]:
    start = next((i for i, line in enumerate(lines) if REPORT.match(line)), None)
    if start is None or not any(LEAD_IN.match(line) for line in lines[:start]):
        return []
    text = "\n".join(lines[start + 1 :])
    failures = []
    for chunk in re.split(r"\n\s*\n", text):
        fields = HeaderParser().parsestr(chunk.strip())
        action = (fields.get("action") or "").strip().lower()
        address = parseaddr(str(fields.get("final-recipient") or "").partition(";")[2])[1]
        if action in ("failed", "delayed") and "@" in address:
            failures.append(
                Failure(
                    address.lower(),
                    str(fields.get("diagnostic-code") or ""),
                    status=str(fields.get("status") or "").strip() or None,
                    action="failed" if action == "failed" else "delayed",
                )
            )
    return failures


READER = Reader("amazonworkmail", hinted, read)
