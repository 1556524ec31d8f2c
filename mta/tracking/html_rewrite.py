"""Rewriting the links of an HTML document and adding an image to it, leaving every other
character as it was.

The standard library's parser finds the tags (so links in comments, scripts and styles are not
taken for tags); the value of each `href` is then replaced where it stands in the source. The
document is never re-serialised: what is not a link keeps its bytes, quoting and case.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.entities import html5
from html.parser import HTMLParser

LINK_TAGS = frozenset({"a", "area"})
# A character reference: `&amp;`, `&#38;`, `&#x26;`, or a name that a legacy reference may end
# without its `;` (`&amp`, `&copy`).
_REFERENCE = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")


def attribute_text(value: str) -> str:
    """An attribute value's text, its character references decoded as a browser decodes them
    in an attribute (HTML's "named character reference state"). `html.unescape` decodes a legacy
    name without `;` anywhere (`&region=eu` -> `®ion=eu`); in an attribute a browser leaves
    it when a letter, a digit or `=` follows the name, so `?a=1&copy=2` stays the sender's URL."""

    def decoded(match: re.Match[str]) -> str:
        reference = match.group(0)
        if reference.startswith("&#"):
            return html.unescape(reference)
        name = reference[1:]
        following = value[match.end() : match.end() + 1]
        if name in html5 and (name.endswith(";") or following != "="):
            return html5[name]  # `&amp;`, or a whole legacy name: `&amp` before a space
        return reference  # not a name, or a legacy prefix of a longer word (`&region`)

    return _REFERENCE.sub(decoded, value)


PIXEL_TAG = '<img src="{url}" width="1" height="1" alt="" style="border:0;width:1px;height:1px">'


def attribute_value_span(tag: str, wanted: str) -> tuple[int, int] | None:
    """Where the value of attribute `wanted` lies in the source of one start tag (`<a ...>`),
    read as the HTML tokenizer reads attributes; None when the tag has no such value. The
    first of repeated attributes counts, as in HTML."""
    end = len(tag)
    i = 1
    while i < end and not tag[i].isspace() and tag[i] not in "/>":
        i += 1  # the tag name
    while i < end:
        while i < end and (tag[i].isspace() or tag[i] == "/"):
            i += 1
        if i >= end or tag[i] == ">":
            return None
        name_start, i = i, i + 1
        while i < end and not tag[i].isspace() and tag[i] not in "/>=":
            i += 1
        name = tag[name_start:i].lower()
        while i < end and tag[i].isspace():
            i += 1
        if i >= end or tag[i] != "=":
            continue  # an attribute without a value
        i += 1
        while i < end and tag[i].isspace():
            i += 1
        if i < end and tag[i] in "\"'":
            close = tag.find(tag[i], i + 1)
            if close < 0:
                return None
            span, i = (i + 1, close), close + 1
        else:
            start = i
            while i < end and not tag[i].isspace() and tag[i] != ">":
                i += 1
            span = (start, i)
        if name == wanted:
            return span
    return None


class _Scanner(HTMLParser):
    """Collects the source spans of link values and where the last `</body>` starts."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.line_starts = [0]
        at = source.find("\n")
        while at >= 0:
            self.line_starts.append(at + 1)
            at = source.find("\n", at + 1)
        self.links: list[tuple[int, int]] = []
        self.body_end: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in LINK_TAGS:
            return
        text = self.get_starttag_text() or ""
        span = attribute_value_span(text, "href")
        if span is not None:
            start = self._offset()
            self.links.append((start + span[0], start + span[1]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self._offset()


def rewrite_html(
    source: str,
    link: Callable[[str], str | None],
    pixel: str | None,
    footer: str | None = None,
) -> str:
    """`source` with each link `link(url)` maps to a new URL replaced by that URL (which must
    need no escaping in an attribute), and the HTML `footer` and an `<img>` of `pixel` before
    `</body>` (or at the end). `link` receives the URL as the browser would follow it
    (character references resolved, surrounding blanks dropped)."""
    scanner = _Scanner(source)
    scanner.feed(source)
    scanner.close()
    edits: list[tuple[int, int, str]] = []
    for start, end in scanner.links:
        new = link(attribute_text(source[start:end]).strip())
        if new is not None:
            edits.append((start, end, new))
    added = (footer or "") + (PIXEL_TAG.format(url=pixel) if pixel is not None else "")
    if added:
        at = len(source) if scanner.body_end is None else scanner.body_end
        edits.append((at, at, added))
    pieces, done = [], 0
    for start, end, new in sorted(edits, key=lambda edit: edit[0]):
        pieces += [source[done:start], new]
        done = end
    return "".join(pieces) + source[done:]
