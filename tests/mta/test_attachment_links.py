"""Attachment links are checked as webhook URLs are: without allow_private, a link to loopback
or a private network is refused before any connection (server-side request forgery)."""

from __future__ import annotations

import pytest

from mta.checked_http import HttpOptions, HttpSender
from mta.submission.attachment_links import AttachmentLinkError, LinkProblem, fetch_attachments


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/file.pdf",
        "http://localhost:8080/file.pdf",
        "https://10.1.2.3/file.pdf",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/file.pdf",
        "file:///etc/passwd",
    ],
)
async def test_links_to_private_addresses_are_bad_links(url: str) -> None:
    http = HttpSender(HttpOptions(allow_private=False))
    try:
        with pytest.raises(AttachmentLinkError) as refused:
            await fetch_attachments(http, [url])
    finally:
        await http.close()
    assert refused.value.problem is LinkProblem.BAD_LINK
