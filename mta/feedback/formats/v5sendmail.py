"""Sendmail before version 8 (5.x, IDA): a plain-text bounce with a session transcript and the
unsent message, no MIME and no DSN fields.

       ----- Transcript of session follows -----
    While talking to mx.example.org:
    >>> RCPT To:<user@example.org>
    <<< 550 Requested User Mailbox not found. No such user here.
    550 <user@example.org>... User unknown
    554 <other@example.net>... 550 Host unknown (Authoritative answer from name server)

       ----- Unsent message follows -----

A recipient's line (`550 <user@example.org>... User unknown`) is sendmail's own summary; the
remote server's words are the `<<<` reply of the session it follows, or the reply the line
quotes after its `...`. A transcript naming no recipient (a host that timed out for days) is
about every recipient of the unsent message.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from mta.feedback.formats.reader import Failure, Reader, header

TRANSCRIPT = re.compile(r"^\s*-+\s*Transcript of session follows\s*-+\s*$", re.IGNORECASE)
UNSENT = re.compile(r"^\s*-+\s*Unsent message follows\s*-+\s*$", re.IGNORECASE)
SESSION = re.compile(r"^While talking to ", re.IGNORECASE)
REMOTE_REPLY = re.compile(r"^<<<\s*([245]\d\d\b.*)$")
# `550 <user@example.org>... User unknown`, or a host's: `421 example.org (smtp)... Deferred`.
SUMMARY = re.compile(r"^([245]\d\d)[ -](<([^<>\s]+@[^<>\s]+)>|\S+)[^.]*\.\.\.\s*(.*)$")
QUOTED_REPLY = re.compile(r"^[245]\d\d\b")


def hinted(msg: Message) -> bool:
    return header(msg, "subject").lower().startswith("returned mail:")


def read(msg: Message, lines: list[str]) -> list[Failure]:
    start = next((i for i, line in enumerate(lines) if TRANSCRIPT.match(line)), None)
    end = next((i for i, line in enumerate(lines) if UNSENT.match(line)), None)
    if start is None or end is None or end < start or msg.is_multipart():
        return []
    failures: dict[str, Failure] = {}
    remote = ""  # the `<<<` reply of the current session
    last = ""  # the last summary line, for a transcript that names no recipient
    for line in lines[start + 1 : end]:
        if SESSION.match(line):
            remote = ""
        elif reply := REMOTE_REPLY.match(line.strip()):
            remote = reply.group(1)
        elif summary := SUMMARY.match(line.strip()):
            last = line.strip()
            address, said = summary.group(3), summary.group(4)
            if address and address.lower() not in failures:
                quoted = said if QUOTED_REPLY.match(said) else ""
                diagnostic = quoted or remote or line.strip()
                failures[address.lower()] = Failure(address.lower(), diagnostic)
    if not failures and last:
        return [Failure(address, last) for address in _unsent_recipients(lines[end + 1 :])]
    return list(failures.values())


def _unsent_recipients(lines: list[str]) -> list[str]:
    """The To and Cc addresses of the unsent message's header."""
    headers = HeaderParser().parsestr("\n".join(lines).lstrip("\n"))
    values = [str(v) for name in ("to", "cc") for v in headers.get_all(name, [])]
    return [address.lower() for _, address in getaddresses(values) if "@" in address]


READER = Reader("v5sendmail", hinted, read)
