"""Per-format bounce readers, in the manner of Sisimai's lhost modules: one small module per
MTA or provider that writes its bounces in a home-made format rather than as an RFC 3464 DSN.
The parser tries them after the standard readers, those whose headers point to them first."""

from __future__ import annotations

from email.message import Message

from mta.feedback.formats import (
    activehunter,
    amazonworkmail,
    apachejames,
    dragonfly,
    mailmarshal,
    notes,
    v5sendmail,
    x6,
)
from mta.feedback.formats.reader import Failure, Reader

__all__ = ["READERS", "Failure", "Reader", "read_failures"]

READERS: tuple[Reader, ...] = (
    dragonfly.READER,
    amazonworkmail.READER,
    v5sendmail.READER,
    notes.READER,
    x6.READER,
    activehunter.READER,
    mailmarshal.READER,
    apachejames.READER,
)


def read_failures(msg: Message, lines: list[str]) -> tuple[str, list[Failure]] | None:
    """The first reader that takes the message, and its failures; None when none does."""
    hinted = [reader for reader in READERS if reader.hinted(msg)]
    for reader in [*hinted, *(reader for reader in READERS if reader not in hinted)]:
        if failures := reader.read(msg, lines):
            return reader.name, failures
    return None
