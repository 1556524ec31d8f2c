"""What a per-format bounce reader is: it recognises one MTA's or provider's home-made bounce
and says, per failed recipient, what the remote server answered. The parser turns that into
its `FailedRecipient` exactly as it does a DSN's fields, so every format is classified alike."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Literal

Action = Literal["failed", "delayed"]


@dataclass(frozen=True)
class Failure:
    """One recipient a format reports as failed, in the format's own words."""

    address: str  # lower-cased
    diagnostic: str  # the reply or text as written, possibly folded over several lines
    status: str | None = None  # an enhanced status the format states apart from the reply
    reply_code: int | None = None  # an SMTP reply code the format states apart from the reply
    action: Action = "failed"


@dataclass(frozen=True)
class Reader:
    """One format. `hinted` looks only at the headers (From, Subject, X-Mailer, Received) and
    puts the reader first; `read` confirms the format from the body and returns its failures,
    or nothing when the message is not in its format."""

    name: str
    hinted: Callable[[Message], bool]
    read: Callable[[Message, list[str]], list[Failure]]


def header(msg: Message, name: str) -> str:
    """All values of a header field as one string ('' when absent)."""
    return " ".join(str(value) for value in msg.get_all(name, []))


# An address alone on a line, as several formats list their failed recipients.
LONE_ADDRESS = re.compile(r"^\s*<?([^\s<>@,;:\"]+@[\w.-]+\.[a-z]{2,})>?\s*$", re.IGNORECASE)


def lone_address(line: str) -> str | None:
    """The address a line consists of, lower-cased; None when the line says more."""
    match = LONE_ADDRESS.match(line)
    return match.group(1).lower() if match else None


def between(
    lines: list[str], start: re.Pattern[str], end: re.Pattern[str]
) -> tuple[list[str], list[str]] | None:
    """The lines after the first that matches `start` up to the next that matches `end`, and
    the lines after that `end`; None when either is missing: the layout of a format, not its
    phrases alone."""
    first = next((i for i, line in enumerate(lines) if start.match(line)), None)
    if first is None:
        return None
    last = next((i for i in range(first + 1, len(lines)) if end.match(lines[i])), None)
    return None if last is None else (lines[first + 1 : last], lines[last + 1 :])


def text_of(lines: list[str]) -> str:
    """A section's non-blank lines as one diagnostic."""
    return "\n".join(line for line in lines if line.strip())
