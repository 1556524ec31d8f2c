"""Merge tags at the level of one message: placeholders survive every re-encoding of the build,
and each copy's values are encoded for where they stand (quoted-printable lines, HTML, header
fields that no value can break)."""

from __future__ import annotations

import binascii
import email
import email.policy
import functools
import uuid
from email.message import EmailMessage

import pytest

from mta.campaigns.merge_tags import (
    HTML,
    TEXT,
    Template,
    merge,
    needs_merging,
    quoted_printable,
    render,
)
from mta.submission.composition import Draft, Mailbox, compose
from mta.tracking.mime_rewrite import rewrite_text_parts
from mta.tracking.rewrite import Plan, TrackingSettings, personalise, prepare
from mta.tracking.tokens import tracking_key

KEY = tracking_key(b"m" * 32)
SETTINGS = TrackingSettings(KEY, "https://gateway.example/", "links", "bounces")
PLAN = Plan(True, True, True, "https://links.shop.example", "bounces.shop.example")


def built(subject: str, page: str, text: str) -> bytes:
    """A message as the campaign build makes it (tracked), and its merge line."""
    template = Template.of(subject, page, text)
    draft = Draft(
        sender=Mailbox("news@shop.example", "Shop"),
        subject=template.subject,
        to=[Mailbox(template.recipient)],
        html=page,
        plain=text,
    )
    rewrites = {
        "text/html": functools.partial(template.replace, context=HTML),
        "text/plain": functools.partial(template.replace, context=TEXT),
    }
    raw = rewrite_text_parts(compose(draft), rewrites, template.words())
    assert raw is not None
    prepared = prepare(SETTINGS, PLAN, raw, uuid.uuid4(), template.words())
    assert prepared is not None
    return template.marked(prepared, subject)


def copy(stored: bytes, recipient: str, values: dict[str, str]) -> tuple[bytes, EmailMessage]:
    content = personalise(stored, 7, KEY)
    assert needs_merging(content)
    sent = merge(content, recipient, values)
    message = email.message_from_bytes(sent, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return sent, message


def body_of(message: EmailMessage, kind: str) -> str:
    return str(next(p for p in message.walk() if p.get_content_type() == kind).get_content())


def test_placeholders_stay_whole_through_long_non_ascii_text() -> None:
    words = " ".join(f"słowo{n}" for n in range(300))
    page = f"<p>{words} $$name$$ {words} $$name$$</p>"
    stored = built("Hi $$name$$", page, f"{words} $$name$$ {words}")
    sent, message = copy(stored, "ann@example.org", {"name": "Ann"})
    assert body_of(message, "text/html").startswith(f"<p>{words} Ann {words} Ann</p>")
    assert body_of(message, "text/plain").rstrip() == f"{words} Ann {words}"
    assert all(len(line) <= 76 for line in sent.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))


def test_a_value_cannot_add_header_fields() -> None:
    stored = built("Hi $$name$$", "<p>$$name$$</p>", "$$name$$")
    evil = "Ann\r\nBcc: victim@example.org\r\n\r\nbody"
    sent, message = copy(stored, "ann@example.org", {"name": evil})
    head = sent.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and message["Bcc"] is None
    assert message["Subject"] == "Hi Ann Bcc: victim@example.org body"
    assert message["To"] == "ann@example.org"
    # In the text part the value stays as it is: its line breaks are text.
    assert body_of(message, "text/plain").startswith("Ann\r\nBcc: victim")


def test_tags_match_without_case_and_unknown_ones_are_empty() -> None:
    stored = built("$$NAME$$/$$Missing$$", "<p>$$Name$$|$$missing$$|$$email$$</p>", "x")
    _, message = copy(stored, "ann@example.org", {"name": "Ann"})
    assert message["Subject"] == "Ann/"
    assert body_of(message, "text/html").startswith("<p>Ann||ann@example.org</p>")


@pytest.mark.parametrize("column", [0, 1, 40, 74, 75])
@pytest.mark.parametrize(
    "value",
    ["", " ", "plain words ", "=" * 40, "Zoë " * 30, "tab\tand\r\nbreak ", "x" * 200],
)
def test_values_are_quoted_printable_from_their_column(value: str, column: int) -> None:
    encoded = quoted_printable(value.encode(), column)
    lines = (b"p" * column + encoded).split(b"=\r\n")
    assert all(len(line) <= 75 for line in lines[1:]) and len(lines[0]) <= max(75, column)
    assert not encoded.endswith((b" ", b"\t"))
    assert binascii.a2b_qp(encoded) == value.encode()


def test_test_sends_render_values_escaped_in_html_only() -> None:
    values = {"name": "<b>&"}
    assert render("Hi $$name$$ $$x$$", values) == "Hi <b>& "
    assert render("Hi $$NAME$$", values, escape=True) == "Hi &lt;b&gt;&amp;"
