"""mta/submission/composition.py as tables, in process: what a request's fields may hold (header
names and values, filenames, content ids, charsets), the MIME shape each combination of bodies and
attachments gets, and the written message read back by the standard library's parser."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from mta.submission.assembly import has_bare_line_ending, read_headers
from mta.submission.composition import (
    Attachment,
    Draft,
    InvalidContent,
    Mailbox,
    UnencodableText,
    check_header,
    checked_address,
    compose,
    unique_addresses,
)

SHOP = Mailbox("news@shop.test", "Shop")
FRIEND = Mailbox("friend@example.org")
PNG = Attachment("logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))


def read(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def draft(**fields: object) -> Draft:
    return Draft(**{"sender": SHOP, "subject": "Hi", "to": (FRIEND,), **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("X-Campaign", "spring", None),
        ("X-Empty", "", None),
        ("List-Id", "<news.shop.test>", None),
        ("X Space", "v", "is not a valid field name"),
        ("X-Colon:", "v", "is not a valid field name"),
        ("", "v", "is not a valid field name"),
        ("X-" + "n" * 75, "v", "is not a valid field name"),  # 77 characters
        ("Bcc", "a@b.test", "is set from the request's own fields"),
        ("dkim-signature", "v=1", "is set from the request's own fields"),  # without case
        ("Received", "from x", "is set from the request's own fields"),
        ("X-Injected", "v\r\nBcc: all@x.test", "has a line break or NUL"),
        ("X-Injected", "v\nBcc: all@x.test", "has a line break or NUL"),
        ("X-Nul", "a\0b", "has a line break or NUL"),
    ],
)
def test_check_header(name: str, value: str, error: str | None) -> None:
    if error is None:
        assert check_header(name, value) == (name, value)
        return
    with pytest.raises(InvalidContent, match=error):
        check_header(name, value)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("user@example.org", "user@example.org"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),  # IDN: its ASCII form
        ("ß@example.org", "ß@example.org"),  # an internationalized local part, kept
        ("user@shop.test", "user@shop.test"),  # .test is let through, as SMTP does
        ("user@localhost", None),
        ("user@printer.local", None),
        ("no-at-sign", None),
        ("two@@example.org", None),
    ],
)
def test_checked_address(text: str, normalized: str | None) -> None:
    address, reason = checked_address(text)
    assert address == normalized
    assert bool(reason) is (normalized is None)


def test_unique_addresses_keeps_the_first_spelling_in_order() -> None:
    assert unique_addresses(["A@x.test", "b@x.test", "a@X.TEST", "c@x.test", "B@x.test"]) == [
        "A@x.test",
        "b@x.test",
        "c@x.test",
    ]


def test_the_envelope_recipients_are_to_cc_and_bcc_once() -> None:
    hidden = Mailbox("Friend@Example.org")
    message = draft(cc=(Mailbox("cc@x.test"),), bcc=(hidden, Mailbox("bcc@x.test")))
    assert message.recipients() == ["friend@example.org", "cc@x.test", "bcc@x.test"]


@pytest.mark.parametrize(
    ("fields", "shape"),
    [
        ({"plain": "text"}, "text/plain"),
        ({"html": "<p>x</p>"}, "text/html"),
        ({}, "text/plain"),  # no body at all: an empty text
        ({"plain": "t", "html": "<p>h</p>"}, "multipart/alternative[text/plain,text/html]"),
        ({"plain": "t", "attachments": (PNG,)}, "multipart/mixed[text/plain,image/png]"),
        (
            {
                "plain": "t",
                "html": "<img src=cid:logo>",
                "attachments": (Attachment("l.png", b"x", inline=True, content_id="logo"),),
            },
            "multipart/alternative[text/plain,multipart/related[text/html,image/png]]",
        ),
        (
            {
                "html": "<img src=cid:logo>",
                "attachments": (Attachment("l.png", b"x", inline=True, content_id="<logo>"), PNG),
            },
            "multipart/mixed[multipart/related[text/html,image/png],image/png]",
        ),
        (  # an inline part without HTML to refer to it is an attachment like the others
            {
                "plain": "t",
                "attachments": (Attachment("l.png", b"x", inline=True, content_id="logo"),),
            },
            "multipart/mixed[text/plain,image/png]",
        ),
        (
            {
                "plain": "t",
                "attachments": (Attachment("data.bin", b"x"), Attachment("r", b"x", "text/csv")),
            },
            "multipart/mixed[text/plain,application/octet-stream,text/csv]",
        ),
    ],
)
def test_the_mime_shape(fields: dict[str, object], shape: str) -> None:
    def described(part: EmailMessage) -> str:
        if not part.is_multipart():
            return part.get_content_type()
        inner = ",".join(described(p) for p in part.iter_parts())  # type: ignore[arg-type]
        return f"{part.get_content_type()}[{inner}]"

    raw = compose(draft(**fields))
    assert not has_bare_line_ending(raw)
    assert described(read(raw)) == shape


def test_the_written_message_reads_back() -> None:
    raw = compose(
        draft(
            subject="Café für alle",
            to=(Mailbox("ß@example.org", "Jürgen"), FRIEND),
            reply_to=(Mailbox("help@shop.test"),),
            plain="Grüße\n" + "x" * 2000,
            attachments=(Attachment("résumé.pdf", b"%PDF-1.4"),),
            headers=(("X-Campaign", "spring"),),
        )
    )
    message = read(raw)
    assert message["Subject"] == "Café für alle"
    assert message["From"] == "Shop <news@shop.test>"
    assert message["To"] == "Jürgen <ß@example.org>, friend@example.org"  # RFC 6532, in UTF-8
    assert message["Reply-To"] == "help@shop.test"
    assert message["X-Campaign"] == "spring"
    assert "Bcc" not in message and "Message-ID" not in message  # the submission path adds it
    body, attachment = message.iter_parts()
    text = body.get_content()  # type: ignore[attr-defined]
    assert text.replace("\r\n", "\n") == "Grüße\n" + "x" * 2000
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))  # quoted-printable
    assert attachment.get_filename() == "résumé.pdf"
    assert attachment.get_content() == b"%PDF-1.4"  # type: ignore[attr-defined]
    assert read_headers(raw, strict=True).from_addresses == ("news@shop.test",)


def test_bcc_only_is_written_as_undisclosed_recipients() -> None:
    message = read(compose(draft(to=(), bcc=(FRIEND,))))
    assert message["To"] == "undisclosed-recipients:;"


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"subject": "a\r\nBcc: x@y.test"}, InvalidContent, "Subject has a line break"),
        ({"to": (Mailbox("a@x.test", "Name\nBcc: x@y.test"),)}, InvalidContent, "a name has"),
        ({"attachments": (Attachment("a\r\nb.txt", b""),)}, InvalidContent, "not usable"),
        ({"attachments": (Attachment("/", b""),)}, InvalidContent, "not usable"),
        ({"attachments": (Attachment("a.txt", b"", "text"),)}, InvalidContent, "invalid type"),
        (
            {"attachments": (Attachment("a.txt", b"", "te xt/plain"),)},
            InvalidContent,
            "invalid type",
        ),
        (
            {"attachments": (Attachment("a.txt", b"", content_id="a b"),)},
            InvalidContent,
            "content id",
        ),
        ({"charset": "iso-8859-2", "subject": "€"}, UnencodableText, "Subject"),
        ({"charset": "iso-8859-2", "plain": "日本"}, UnencodableText, "plain text"),
        (
            {"charset": "iso-8859-2", "sender": Mailbox("a@x.test", "日本")},
            UnencodableText,
            "a name",
        ),
    ],
)
def test_what_cannot_become_a_message(
    fields: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        compose(draft(**fields))


def test_a_path_in_a_filename_is_dropped() -> None:
    message = read(compose(draft(plain="t", attachments=(Attachment("..\\..\\evil.txt", b"x"),))))
    assert [part.get_filename() for part in message.iter_attachments()] == ["evil.txt"]


def test_a_central_european_charset_is_written_in_it() -> None:
    raw = compose(draft(charset="iso-8859-2", subject="Łódź", plain="Žluťoučký kůň"))
    message = read(raw)
    assert message["Subject"] == "Łódź"
    assert message.get_content_charset() == "iso-8859-2"
    assert message.get_content() == "Žluťoučký kůň"  # type: ignore[attr-defined]
