"""Attachments named by link (`/rest/mail`'s `attachments`): each URL is fetched with a GET
through mta/checked_http, as webhooks are called (the URL checked, a checked address connected
to, no redirects followed), and all the bodies together may be at most `limit` bytes, counted
while reading: a body that would pass it is not read further.

The file name comes from the answer's Content-Disposition, else from the URL's last path
segment; the content type from the answer's Content-Type, else from the file name.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from mta.checked_http import CallFailed, CallRefused, Fetched, HttpSender, TooLarge
from mta.submission.composition import Attachment, InvalidContent

MAX_TOTAL = 512 * 1024  # bytes of all of a message's linked attachments (003: "0.5 MB")
MAX_LINKS = 10
DEFAULT_NAME = "attachment"


class LinkProblem(enum.Enum):
    BAD_LINK = "bad link"  # not an http(s) URL, a host that does not resolve or is not public
    MISSING = "missing"  # no 2xx answer: not found, a redirect, unreachable, timed out
    TOO_LARGE = "too large"


class AttachmentLinkError(Exception):
    def __init__(self, problem: LinkProblem, url: str, detail: str) -> None:
        super().__init__(f"{url}: {detail}")
        self.problem = problem


async def fetch_attachments(
    http: HttpSender, urls: Sequence[str], limit: int = MAX_TOTAL
) -> list[Attachment]:
    """The attachments the links name, in their order; AttachmentLinkError for the first link
    that fails."""
    if len(urls) > MAX_LINKS:
        raise AttachmentLinkError(
            LinkProblem.BAD_LINK, f"{len(urls)} links", f"at most {MAX_LINKS} attachments"
        )
    found: list[Attachment] = []
    used = 0
    for url in urls:
        fetched = await _fetch(http, url, limit - used)
        used += len(fetched.body)
        found.append(_attachment(url, fetched))
    return found


async def _fetch(http: HttpSender, url: str, remaining: int) -> Fetched:
    try:
        fetched = await http.get(url, remaining)
    except TooLarge as error:
        raise AttachmentLinkError(LinkProblem.TOO_LARGE, url, str(error)) from None
    except CallRefused as error:
        raise AttachmentLinkError(LinkProblem.BAD_LINK, url, str(error)) from None
    except CallFailed as error:
        raise AttachmentLinkError(LinkProblem.MISSING, url, str(error)) from None
    if not 200 <= fetched.status < 300:
        raise AttachmentLinkError(LinkProblem.MISSING, url, f"answered {fetched.status}")
    return fetched


def _attachment(url: str, fetched: Fetched) -> Attachment:
    name = _usable(fetched.filename) or _usable(unquote(urlsplit(url).path)) or DEFAULT_NAME
    kind = fetched.content_type.partition(";")[0].strip()
    attachment = Attachment(name, fetched.body, kind)
    try:
        attachment.mime_type()
    except InvalidContent:  # a type no MIME header may carry: guessed from the name instead
        attachment = Attachment(name, fetched.body)
    return attachment


def _usable(name: str) -> str:
    """The last segment of a path or name, without what a header may not hold."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(char for char in base if char.isprintable()).strip()
