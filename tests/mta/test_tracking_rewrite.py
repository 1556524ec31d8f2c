"""Tracking at the level of one message: which links are rewritten, what else keeps its bytes,
how each transfer encoding stays valid, and what a token accepts."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import uuid
from dataclasses import replace
from email.message import EmailMessage

import pytest

from mta.tracking.html_rewrite import attribute_value_span, rewrite_html
from mta.tracking.mime_rewrite import rewrite_html_parts
from mta.tracking.rewrite import (
    MARKER,
    Plan,
    TrackingRequest,
    TrackingSettings,
    needs_personalising,
    personalise,
    placeholder,
    plan_for,
    prepare,
)
from mta.tracking.tokens import (
    InvalidToken,
    Purpose,
    link_part,
    read_link_part,
    read_recipient_token,
    recipient_token,
    tracking_key,
)
from storage.domains import SenderContext
from storage.models import DomainStatus, UserStatus

KEY = tracking_key(b"k" * 32)
SETTINGS = TrackingSettings(KEY, "https://gateway.example:8443/", "links", "bounces")
BASE = "https://links.shop.example:8443"
PLAN = Plan(True, True, False, BASE, "bounces.shop.example")


def marked(url: str) -> str | None:
    return f"[{url}]" if url.startswith("http") else None


def test_only_link_values_change_and_the_pixel_goes_before_body_end() -> None:
    source = (
        "<HTML><Body>\n<a class=x HREF='http://a.example/?q=1&amp;r=2' >A</a>"
        '<!-- <a href="http://comment.example"> --><script>var s = \'<a href="http://s">\';'
        "</script>\n<area href = https://b.example/ alt=b><a name=top>T</a>"
        '<a href="mailto:x@y.example">M</a></BODY></HTML>\n'
    )
    expected = (
        "<HTML><Body>\n<a class=x HREF='[http://a.example/?q=1&r=2]' >A</a>"
        '<!-- <a href="http://comment.example"> --><script>var s = \'<a href="http://s">\';'
        "</script>\n<area href = [https://b.example/] alt=b><a name=top>T</a>"
        '<a href="mailto:x@y.example">M</a><img src="PIXEL" width="1" height="1" alt=""'
        ' style="border:0;width:1px;height:1px"></BODY></HTML>\n'
    )
    assert rewrite_html(source, marked, "PIXEL") == expected
    assert rewrite_html("<p>no body", marked, "P").endswith('<p>no body<img src="P" width="1"'
                                                          ' height="1" alt="" style="border:0;'
                                                          'width:1px;height:1px">')  # fmt: skip
    assert rewrite_html(source, marked, None).count("<img") == 0


@pytest.mark.parametrize(
    ("tag", "span"),
    [
        ('<a href="x">', "x"),
        ("<a href='x y'>", "x y"),
        ("<a href=x>", "x"),
        ('<a title="href=no" href="yes">', "yes"),
        ('<a hreflang="en" href = "yes" href="second">', "yes"),
        ("<a download href>", None),
        ("<a>", None),
    ],
)
def test_attribute_values_are_found_as_the_tokenizer_reads_them(tag: str, span: str | None) -> None:
    found = attribute_value_span(tag, "href")
    assert (tag[found[0] : found[1]] if found else None) == span


def message(html_part: bytes, encoding: str) -> bytes:
    return (
        b"From: a@shop.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\npreamble\r\n--b1\r\n'
        b'Content-Type: text/plain\r\n\r\n<a href="http://plain.example/">not html</a>\r\n--b1\r\n'
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: "
        + encoding.encode()
        + b"\r\n\r\n"
        + html_part
        + b"\r\n--b1\r\nContent-Type: text/html\r\nContent-Disposition: attachment; "
        b'filename="page.html"\r\n\r\n<a href="http://attached.example/">x</a>\r\n--b1--\r\n'
        b"epilogue\r\n"
    )


HTML = '<p>Grüße</p><a href="https://shop.example/p?id=1">Buy</a>'.encode()


def html_of(raw: bytes) -> tuple[str, str]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/html")
    return str(part.get_content()), str(part["Content-Transfer-Encoding"])


@pytest.mark.parametrize(
    ("encoded", "encoding", "result"),
    [
        (HTML, "8bit", "8bit"),
        (binascii.b2a_qp(HTML), "quoted-printable", "quoted-printable"),
        (base64.encodebytes(HTML).replace(b"\n", b"\r\n").rstrip(), "base64", "quoted-printable"),
    ],
)
def test_each_encoding_stays_valid_and_other_parts_keep_their_bytes(
    encoded: bytes, encoding: str, result: str
) -> None:
    original = message(encoded, encoding)
    atoms = ["mgtc" + "0" * 28]
    rewritten = rewrite_html_parts(original, lambda text: rewrite_html(text, marked, None), atoms)
    assert rewritten is not None
    text, transfer = html_of(rewritten)
    assert text == '<p>Grüße</p><a href="[https://shop.example/p?id=1]">Buy</a>'
    assert transfer == result
    before, after = original.split(b"--b1\r\nContent-Type: text/html; charset=utf-8")
    assert rewritten.startswith(before)  # headers, preamble and the plain part
    assert rewritten.endswith(after[after.index(b"\r\n--b1\r\nContent-Type: text/html\r\n") :])


def test_a_line_that_grows_past_998_octets_becomes_quoted_printable() -> None:
    long_link = ('<a href="https://shop.example/' + "x" * 900 + '">x</a>').encode()
    original = message(long_link, "7bit")
    rewritten = rewrite_html_parts(original, lambda t: rewrite_html(t, lambda u: u * 2, None), [])
    assert rewritten is not None
    assert html_of(rewritten)[1] == "quoted-printable"
    assert max(len(line) for line in rewritten.split(b"\r\n")) <= 998


def tracked(html: str, plan: Plan = PLAN) -> bytes:
    raw = (
        b"From: a@shop.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
        b"\r\n\r\n"
    ) + binascii.b2a_qp(html.encode()).replace(b"\n", b"\r\n")
    prepared = prepare(SETTINGS, plan, raw, uuid.UUID(int=7))
    assert prepared is not None
    return prepared


def test_placeholders_are_never_split_and_tokens_replace_them_in_place() -> None:
    words = " ".join(f"word{n}" for n in range(200))
    stored = tracked(f"<p>{words} <a href='https://shop.example/{words[:50]}'>x</a> {words}</p>")
    assert needs_personalising(stored) and stored.startswith(MARKER)
    nonce = stored[len(MARKER) : stored.index(b"\r\n")].decode()
    for purpose in (Purpose.OPEN, Purpose.CLICK):
        assert placeholder(purpose, nonce).encode() in stored
    sent = personalise(stored, 42, KEY)
    assert b"mgt" not in sent and not needs_personalising(sent)
    assert all(len(line) <= 76 for line in sent.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
    html = html_of(sent)[0]
    open_token = recipient_token(KEY, Purpose.OPEN, 42)
    assert f'src="{BASE}/t/o/{open_token}"' in html
    click = html.split(f"{BASE}/t/c/")[1].split("'")[0]
    recipient, link = click.split(".")
    assert read_recipient_token(KEY, Purpose.CLICK, recipient) == 42
    assert read_link_part(KEY, uuid.UUID(int=7), link) == f"https://shop.example/{words[:50]}"


def test_a_message_with_nothing_to_track_is_left_to_be_signed_as_it_is() -> None:
    text = b"From: a@shop.example\r\nSubject: s\r\n\r\n<a href='http://x.example/'>x</a>\r\n"
    assert prepare(SETTINGS, PLAN, text, uuid.uuid4()) is None
    only_mailto = tracked('<a href="mailto:x@y.example">x</a>')  # the pixel still goes in
    assert b"/t/o/" in only_mailto and b"/t/c/" not in only_mailto


def test_the_unsubscribe_link_goes_where_the_tag_is_or_else_in_a_footer() -> None:
    unsubscribing = Plan(False, False, True, BASE, "bounces.shop.example")
    page = f"{BASE}/u/{recipient_token(KEY, Purpose.UNSUBSCRIBE, 9)}"
    tagged = html_of(personalise(tracked(
        '<body><a href="https://shop.example/">Shop</a> <a href="%unsubscribe_url%">Leave</a>'
        "</body>", unsubscribing), 9, KEY))[0]  # fmt: skip
    assert tagged == (
        f'<body><a href="https://shop.example/">Shop</a> <a href="{page}">Leave</a></body>'
    )
    footed = html_of(personalise(tracked("<body><p>Hi</p></body>", unsubscribing), 9, KEY))[0]
    assert footed.startswith("<body><p>Hi</p><p style=") and footed.endswith("</p></body>")
    assert f'<a href="{page}">unsubscribe</a>' in footed
    # Without UnsubscribeLink the tag is left alone and no footer is added.
    untouched = html_of(tracked('<body><a href="%unsubscribe_url%">x</a></body>'))[0]
    assert '<a href="%unsubscribe_url%">x</a><img' in untouched and "/u/" not in untouched


def test_tokens_refuse_other_purposes_keys_messages_and_alterations() -> None:
    token = recipient_token(KEY, Purpose.UNSUBSCRIBE, 123456789)
    assert len(token) == 32 and token == token.lower()
    assert read_recipient_token(KEY, Purpose.UNSUBSCRIBE, token.upper()) == 123456789
    for bad in (token[:-1] + ("a" if token[-1] != "a" else "b"), token[:-1], "x" * 32, ""):
        with pytest.raises(InvalidToken):
            read_recipient_token(KEY, Purpose.UNSUBSCRIBE, bad)
    with pytest.raises(InvalidToken):
        read_recipient_token(KEY, Purpose.OPEN, token)
    with pytest.raises(InvalidToken):
        read_recipient_token(tracking_key(b"o" * 32), Purpose.UNSUBSCRIBE, token)
    message_id = uuid.uuid4()
    part = link_part(KEY, message_id, "https://shop.example/")
    assert read_link_part(KEY, message_id, part) == "https://shop.example/"
    altered = ("B" if part[0] == "A" else "A") + part[1:]  # (the random id may give an "A")
    for other_message, other_part in ((uuid.uuid4(), part), (message_id, altered)):
        with pytest.raises(InvalidToken):
            read_link_part(KEY, other_message, other_part)


def sender(**options: object) -> SenderContext:
    fields: dict[str, object] = {"link_tracking": True, "open_tracking": True, **options}
    return SenderContext(
        1, "shop.example", DomainStatus.ENABLED, 1, UserStatus.ACTIVE, False, "s", "", **fields
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "base", "return_path"),
    [
        ({}, "https://links.shop.example:8443", "bounces.shop.example"),
        (
            {"custom_track_prefix": "go", "track_merge": "-", "custom_subdomain": "rp"},
            "https://go-shop.example:8443",
            "rp.shop.example",
        ),
        (
            {"track_prefix_disabled": True},
            BASE.replace("links.", "bounces."),
            "bounces.shop.example",
        ),
    ],
)
def test_the_tracking_host_follows_the_domains_options_and_the_public_url(
    options: dict[str, object], base: str, return_path: str
) -> None:
    plan = plan_for(SETTINGS, sender(**options), None)
    assert plan == Plan(True, True, False, base, return_path)


def test_a_messages_choice_overrides_the_domains_and_nothing_asked_is_no_plan() -> None:
    plan = plan_for(SETTINGS, sender(), TrackingRequest(links=False))
    assert plan is not None and (plan.links, plan.opens) == (False, True)
    assert plan_for(SETTINGS, sender(), TrackingRequest(links=False, opens=False)) is None
    headers_only = plan_for(SETTINGS, sender(unsubscribe_link=True), TrackingRequest(False, False))
    assert headers_only is not None and headers_only.unsubscribe
    keyless = TrackingSettings(None, SETTINGS.public_url, "links", "bounces")
    assert plan_for(keyless, sender(), None) is None  # no key, no tokens: nothing is tracked


def test_a_rebranding_domain_gives_its_tracking_host_and_the_return_path_stays() -> None:
    brand = replace(sender(custom_track_prefix="t"), domain="brand.example")
    plan = plan_for(SETTINGS, sender(), TrackingRequest(True, True, rebrand=brand))
    assert plan == Plan(True, True, False, BASE.replace("links.shop", "t.brand"), PLAN.return_path)
    disabled = replace(brand, track_prefix_disabled=True, custom_subdomain="rp")
    plan = plan_for(SETTINGS, sender(), TrackingRequest(True, True, rebrand=disabled))
    assert plan is not None and plan.base_url == BASE.replace("links.shop", "rp.brand")
