"""Merge tags: `$$tag$$` in a campaign's subject, HTML and text, replaced by each recipient's
values (a list field's personalisation tag, matched without regard to case, and `$$email$$`;
an unknown tag or a missing value is empty).

A campaign run stores one message for all its recipients, so, as tracking does
(mta/tracking/rewrite.py), in two steps:

1. When the message is built (`Template`), each tag becomes a placeholder naming the tag and
   its context: `mgm<nonce>h<n>` in HTML, `mgm<nonce>t<n>` in plain text. The text parts are
   written as UTF-8 quoted-printable with every placeholder whole and ending its line
   (mta/tracking/mime_rewrite.py's atoms). The Subject, when it has tags, and the To field are one
   placeholder each (`mgm<nonce>s`, `mgm<nonce>r`). A line after the tracking marker,
   `X-Mailgate-Merge: <nonce> <data>`, carries the tags and the subject's template.
2. At delivery (`merge`), after tracking's tokens, that line goes and each placeholder becomes
   the recipient's value: HTML-escaped in HTML, as it is in text, quoted-printable from the
   placeholder's column with soft line breaks (no line over 76 characters); the Subject written
   again (RFC 2047 encoded words when it is not ASCII, folded) and To the recipient's address.
   Line breaks in a value never reach a header field.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.header import Header

TAG = re.compile(r"\$\$([A-Za-z0-9_]{1,64})\$\$")
MERGE = b"X-Mailgate-Merge: "
HTML, TEXT = "h", "t"
MAX_TAGS = 1000  # three digits in a placeholder
_QP_LINE = 75  # characters of a quoted-printable line before its soft break's "="
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_LITERAL = frozenset(range(33, 127)) - {ord("=")}


class TooManyTags(ValueError):
    pass


@dataclass
class Template:
    """The placeholders of one message's merge tags."""

    nonce: str = field(default_factory=lambda: secrets.token_hex(8))
    tags: list[str] = field(default_factory=list)  # lower case, in order of appearance

    @classmethod
    def of(cls, *texts: str) -> Template:
        template = cls()
        for text in texts:
            for found in TAG.finditer(text):
                template.index(found[1])
        return template

    def index(self, tag: str) -> int:
        tag = tag.lower()
        if tag not in self.tags:
            if len(self.tags) >= MAX_TAGS:
                raise TooManyTags(f"more than {MAX_TAGS} different merge tags")
            self.tags.append(tag)
        return self.tags.index(tag)

    def placeholder(self, tag: str, context: str) -> str:
        return f"mgm{self.nonce}{context}{self.index(tag):03d}"

    @property
    def subject(self) -> str:
        return f"mgm{self.nonce}s"

    @property
    def recipient(self) -> str:
        return f"mgm{self.nonce}r"

    def replace(self, text: str, context: str) -> str:
        """`text` with its tags as placeholders of `context` (HTML or TEXT)."""
        return TAG.sub(lambda found: self.placeholder(found[1], context), text)

    def words(self) -> list[str]:
        """Every placeholder the message may hold, to be kept whole by any re-encoding."""
        each = [f"mgm{self.nonce}{c}{n:03d}" for n in range(len(self.tags)) for c in (HTML, TEXT)]
        return [*each, self.subject, self.recipient]

    def marked(self, message: bytes, subject: str | None) -> bytes:
        """`message` (marked for personalisation by mta/tracking/rewrite.py) with this template's
        line after its marker."""
        marker, sep, rest = message.partition(b"\r\n")
        return marker + sep + self.line(subject) + rest

    def line(self, subject: str | None) -> bytes:
        """The line that goes after the tracking marker; `subject` is the Subject's template
        when the Subject field is the subject placeholder."""
        data = json.dumps({"tags": self.tags, "subject": subject}, separators=(",", ":"))
        encoded = base64.urlsafe_b64encode(data.encode()).rstrip(b"=")
        return MERGE + self.nonce.encode("ascii") + b" " + encoded + b"\r\n"


def render(text: str, values: Mapping[str, str], escape: bool = False) -> str:
    """`text` with its tags replaced by `values` (keys in lower case), HTML-escaped when
    `escape`: what a message built for one recipient holds (a test send)."""

    def value(found: re.Match[str]) -> str:
        got = values.get(found[1].lower(), "")
        return html.escape(got) if escape else got

    return TAG.sub(value, text)


def one_line(value: str) -> str:
    """A value as it may stand in a header field: control characters (line breaks) as a space."""
    return _CONTROL.sub(" ", value)


def needs_merging(message: bytes) -> bool:
    return message.startswith(MERGE)


@functools.lru_cache(maxsize=64)
def _pattern(nonce: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"mgm" + re.escape(nonce) + rb"(?:([ht])(\d{3})|([sr]))")


def merge(message: bytes, recipient: str, values: Mapping[str, str] | None) -> bytes:
    """The copy of a merge-marked message for `recipient` with `values` (keys in lower case;
    `email` defaults to the recipient): the merge line removed, each placeholder replaced."""
    end = message.index(b"\r\n")
    nonce, _, data = message[len(MERGE) : end].partition(b" ")
    info = json.loads(base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4)))
    tags: list[str] = info["tags"]
    values = {"email": recipient, **(values or {})}
    body = message[end + 2 :]

    def replace(found: re.Match[bytes]) -> bytes:
        context, number, header = found.groups()
        if header == b"r":
            return one_line(recipient).encode()
        if header == b"s":
            return _subject(render(info["subject"] or "", values)).encode("ascii")
        value = values.get(tags[int(number)], "")
        if context == b"h":
            value = html.escape(value)
        column = found.start() - (body.rfind(b"\n", 0, found.start()) + 1)
        return quoted_printable(value.encode(), column)

    return _pattern(nonce).sub(replace, body)


def _subject(text: str) -> str:
    text = one_line(text)
    charset = "us-ascii" if text.isascii() else "utf-8"
    return Header(text, charset, header_name="Subject").encode(linesep="\r\n")


def quoted_printable(data: bytes, column: int) -> bytes:
    """`data` quoted-printable, its first line starting at `column`, lines broken with soft
    breaks before 76 characters; trailing blanks encoded (a line may end after it)."""
    out, at, last = bytearray(), column, len(data) - 1
    for index, byte in enumerate(data):
        if byte in _LITERAL or (byte in (9, 32) and index < last):
            piece = bytes((byte,))
        else:
            piece = b"=%02X" % byte
        if at + len(piece) > _QP_LINE:
            out += b"=\r\n"
            at = 0
        out += piece
        at += len(piece)
    return bytes(out)
