"""Rewriting the text/html parts of a message in place, keeping their transfer encoding valid.

The message is walked over its own bytes (the standard library's parser reads each part's
header fields; multipart bodies are split at their boundary lines), so every part that is not
rewritten, and every header, keeps its bytes. A rewritten part keeps its encoding when it can:
7bit and 8bit text stays as it is unless a line grows beyond SMTP's 998 octets; otherwise, and
for quoted-printable and base64 parts, it is written as quoted-printable.

`atoms` are strings that a later step replaces with others (per-recipient tokens): the
quoted-printable encoder never breaks a line inside one and always ends its line after one, so a
replacement of the same length needs no re-encoding, and one of another length is written from
the atom's column on (mta/campaigns/merge_tags.py).

Campaign messages (`rewrite_text_parts`) rewrite text/plain parts too, and every part they
change is written as quoted-printable in a charset they name, whatever it was before.
"""

from __future__ import annotations

import binascii
import codecs
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Callable, Mapping, Sequence
from email.message import Message

MAX_LINE = 998
_QP_LINE = 76
_MAX_DEPTH = 20
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)
_PROBE = '<a href="http://x/">'


class _Rewriter:
    def __init__(
        self,
        rewrites: Mapping[str, Callable[[str], str]],
        atoms: Sequence[str],
        charset: str | None = None,
    ) -> None:
        self.rewrites = rewrites  # by content type
        self.charset = charset  # None: a changed part keeps its charset and, if it can, encoding
        # Without atoms, a pattern that never matches (an empty group would match everywhere).
        words = b"|".join(re.escape(a.encode()) for a in atoms) or b"(?!)"
        self.atoms = re.compile(b"(" + words + b")")

    def entity(self, data: bytes, depth: int = 0) -> bytes | None:
        """The entity (header fields, blank line, body) rewritten, or None when unchanged."""
        if data.startswith(b"\r\n"):
            head, body = b"", data[2:]
        else:
            head, sep, body = data.partition(b"\r\n\r\n")
            if not sep:
                return None
        fields = _HEADERS.parsebytes(head + b"\r\n\r\n")
        kind = fields.get_content_type()
        if kind.startswith("multipart/") and depth < _MAX_DEPTH:
            boundary = fields.get_param("boundary")
            if not isinstance(boundary, str) or not boundary:
                return None
            new_body = self.multipart(body, boundary.encode("ascii", "replace"), depth)
            return None if new_body is None else data[: len(data) - len(body)] + new_body
        rewrite = self.rewrites.get(kind)
        if rewrite is None or fields.get_content_disposition() == "attachment":
            return None
        leaf = self.leaf(body, fields, rewrite)
        if leaf is None:
            return None
        new_body, encoding = leaf
        if encoding is not None:
            head = set_transfer_encoding(head, encoding)
        if self.charset is not None:
            head = set_charset(head, fields, self.charset)
        return head + b"\r\n\r\n" + new_body

    def multipart(self, body: bytes, boundary: bytes, depth: int) -> bytes | None:
        spans = part_spans(body, boundary)
        if spans is None:
            return None
        pieces, done, changed = [], 0, False
        for start, end in spans:
            new = self.entity(body[start:end], depth + 1)
            if new is not None:
                pieces += [body[done:start], new]
                done, changed = end, True
        return b"".join(pieces) + body[done:] if changed else None

    def leaf(
        self, body: bytes, fields: Message, rewrite: Callable[[str], str]
    ) -> tuple[bytes, str | None] | None:
        """(new body, new transfer encoding or None to keep it), or None when unchanged."""
        encoding = str(fields.get("content-transfer-encoding") or "7bit").strip().lower()
        charset = fields.get_content_charset() or "us-ascii"
        if not _ascii_compatible(charset):
            return None
        try:
            if encoding in ("7bit", "8bit", "binary"):
                raw = body
            elif encoding == "quoted-printable":
                raw = binascii.a2b_qp(body)
            elif encoding == "base64":
                raw = binascii.a2b_base64(body)
            else:
                return None
        except (binascii.Error, ValueError):
            return None
        text = raw.decode(charset, "surrogateescape")
        new_text = rewrite(text)
        if new_text == text:
            return None
        if self.charset is not None:
            return self.quoted_printable(new_text.encode(self.charset)), "quoted-printable"
        data = new_text.encode(charset, "surrogateescape")
        if encoding in ("7bit", "8bit", "binary") and all(
            len(line) <= MAX_LINE for line in data.split(b"\r\n")
        ):
            return data, None
        return self.quoted_printable(data), "quoted-printable"

    def quoted_printable(self, data: bytes) -> bytes:
        """Quoted-printable with CRLF line breaks kept as hard breaks, any other CR or LF
        encoded, and no soft break inside an atom."""
        return b"\r\n".join(self._qp_line(line) for line in data.split(b"\r\n"))

    def _qp_line(self, line: bytes) -> bytes:
        out, column = bytearray(), 0
        for index, chunk in enumerate(self.atoms.split(line)):
            if index % 2:  # an atom: on the current line if it fits, then a soft break
                if column + len(chunk) + 1 > _QP_LINE:
                    _soft_break(out)
                out += chunk + b"=\r\n"
                column = 0
            elif chunk:
                # Without istext, CR and LF in the data are encoded, so the only line breaks
                # in the output are soft ones (written as LF or CRLF depending on the input).
                encoded = binascii.b2a_qp(chunk, quotetabs=False, istext=False, header=False)
                encoded = encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                out += encoded
                column = len(encoded) - (encoded.rfind(b"\n") + 1)
        if out.endswith(b"=\r\n"):
            del out[-3:]
        return bytes(out)


def _soft_break(out: bytearray) -> None:
    """End the current line with a soft break. A line b2a_qp ended at the full 76 characters
    has no room for the `=`: its last character (or escape) moves to the next line, so that no
    line is longer than RFC 2045's 76."""
    start = out.rfind(b"\n") + 1
    cut = len(out)
    if cut - start > _QP_LINE - 1:
        cut = start + _QP_LINE - 1
        escape = out.rfind(b"=", cut - 2, cut)  # an `=XX` escape is never split
        if escape >= 0:
            cut = escape
    out[cut:cut] = b"=\r\n"


def _ascii_compatible(charset: str) -> bool:
    """Only charsets where ASCII is ASCII: the added markup is ASCII text."""
    try:
        codecs.lookup(charset)
        return _PROBE.encode(charset) == _PROBE.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def part_spans(body: bytes, boundary: bytes) -> list[tuple[int, int]] | None:
    """Where each part of a multipart body lies (the CRLF before a boundary line belongs to
    it, RFC 2046 5.1.1); None without a closing boundary."""
    delimiter = b"\r\n--" + boundary
    data = b"\r\n" + body
    spans: list[tuple[int, int]] = []
    start: int | None = None
    at = data.find(delimiter)
    while at >= 0:
        after = at + len(delimiter)
        closing = data.startswith(b"--", after)
        line_end = data.find(b"\r\n", after)
        rest = data[after + (2 if closing else 0) : len(data) if line_end < 0 else line_end]
        if not rest.strip(b" \t"):  # a boundary line, not text that begins like one
            if start is not None:
                spans.append((start - 2, at - 2))
            if closing:
                return spans
            if line_end < 0:
                return None
            start = line_end + 2
        at = data.find(delimiter, after)
    return None


def _replace_field(head: bytes, name: bytes, field: bytes) -> bytes:
    """The header section with the field `name` (and its folded lines), if any, dropped and
    `field` added."""
    kept, skipping = [], False
    for line in head.split(b"\r\n"):
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = line.lower().startswith(name + b":")
        if not skipping:
            kept.append(line)
    kept.append(field)
    return b"\r\n".join(line for line in kept if line)


def set_transfer_encoding(head: bytes, encoding: str) -> bytes:
    """The header section with its Content-Transfer-Encoding field (if any) replaced."""
    field = b"Content-Transfer-Encoding: " + encoding.encode("ascii")
    return _replace_field(head, b"content-transfer-encoding", field)


def set_charset(head: bytes, fields: Message, charset: str) -> bytes:
    """The header section with its Content-Type field written again with `charset` (its type
    and other parameters kept)."""
    params = "".join(
        f'; {name}="{email.utils.quote(value)}"'
        for name, value in (fields.get_params() or [])[1:]
        if name.lower() != "charset" and isinstance(value, str)
    )
    field = f'Content-Type: {fields.get_content_type()}{params}; charset="{charset}"'
    return _replace_field(head, b"content-type", field.encode("ascii", "replace"))


def rewrite_html_parts(
    message: bytes, rewrite: Callable[[str], str], atoms: Sequence[str]
) -> bytes | None:
    """`message` with `rewrite` applied to the text of each text/html part (not attachments),
    or None when no part changed."""
    return _Rewriter({"text/html": rewrite}, atoms).entity(message)


def rewrite_text_parts(
    message: bytes,
    rewrites: Mapping[str, Callable[[str], str]],
    atoms: Sequence[str],
) -> bytes | None:
    """`message` with each text part whose content type `rewrites` names (not attachments)
    rewritten by that function, every part that changed written as quoted-printable UTF-8;
    None when no part changed."""
    return _Rewriter(rewrites, atoms, "utf-8").entity(message)
