"""mta/tracking/mime_rewrite.py on its own: the HTML (or, for campaigns, text) parts it may
rewrite are rewritten in every transfer encoding and at any depth, what it writes stays valid
MIME (quoted-printable decodes to the new text, no line over 998 octets, CRLF only), and every
part it does not rewrite, every header and every boundary keeps its bytes."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
from email.message import EmailMessage

import pytest

from mta.tracking.mime_rewrite import (
    MAX_LINE,
    part_spans,
    rewrite_html_parts,
    rewrite_text_parts,
)

ADDED = "<i>added</i>"


def add(text: str) -> str:
    return text + ADDED


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def html_part(body: bytes, encoding: str, charset: str = "utf-8", extra: bytes = b"") -> bytes:
    return (
        b"Content-Type: text/html; charset=" + charset.encode() + b"\r\n"
        b"Content-Transfer-Encoding: " + encoding.encode() + b"\r\n" + extra + b"\r\n" + body
    )


def multipart(boundary: str, *parts: bytes, kind: str = "mixed") -> bytes:
    head = f'Content-Type: multipart/{kind}; boundary="{boundary}"\r\n\r\n'.encode()
    delimiter = f"--{boundary}".encode()
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    return head + b"preamble\r\n" + body + delimiter + b"--\r\nepilogue\r\n"


def message(entity: bytes) -> bytes:
    return b"From: a@shop.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n" + entity


def parsed(raw: bytes) -> EmailMessage:
    result = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(result, EmailMessage)
    assert not [d for p in result.walk() for d in p.defects], "the result has MIME defects"
    return result


def texts(raw: bytes, kind: str = "text/html") -> list[str]:
    return [str(p.get_content()) for p in parsed(raw).walk() if p.get_content_type() == kind]


def assert_valid(raw: bytes) -> None:
    """CRLF line ends only, no line longer than SMTP allows, quoted-printable lines of at most
    76 characters that decode without error."""
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= MAX_LINE
    for part in parsed(raw).walk():
        if part.get("Content-Transfer-Encoding", "").lower() == "quoted-printable":
            body = part.get_payload(decode=False).encode("ascii")
            assert max(len(line) for line in body.split(b"\r\n")) <= 76
            binascii.a2b_qp(body)


HTML = '<p>Grüße, ✓</p><a href="https://shop.test/">Buy</a>'.encode()
B64 = crlf(base64.encodebytes(HTML)).rstrip()


# (the part's body as sent, its transfer encoding, the encoding after a rewrite)
ENCODINGS = [
    pytest.param(HTML, "8bit", "8bit", id="8bit-stays"),
    pytest.param(HTML.decode().replace("ü", "ue").replace("ß", "ss").replace(", ✓", "").encode(),
                 "7bit", "7bit", id="7bit-stays"),
    pytest.param(HTML, "binary", "binary", id="binary-stays"),
    pytest.param(HTML, "8BIT", "8BIT", id="uppercase-name-stays"),
    pytest.param(crlf(binascii.b2a_qp(HTML)), "quoted-printable", "quoted-printable", id="qp"),
    pytest.param(B64, "base64", "quoted-printable", id="base64-becomes-qp"),
    pytest.param(B64, "BASE64", "quoted-printable", id="uppercase-base64"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "encoding", "after"), ENCODINGS)
def test_each_transfer_encoding_decodes_to_the_rewritten_text(
    body: bytes, encoding: str, after: str
) -> None:
    original = message(html_part(body, encoding))
    rewritten = rewrite_html_parts(original, add, [])
    assert rewritten is not None
    assert_valid(rewritten)
    assert texts(rewritten) == [texts(original)[0] + ADDED]
    assert texts(original)[0].startswith("<p>Gr")
    assert parsed(rewritten)["Content-Transfer-Encoding"] == after
    assert rewritten.startswith(b"From: a@shop.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n")


LONG = b"<p>" + b"x" * 990 + b"</p>"  # 997 octets: one more makes it too long for SMTP


@pytest.mark.parametrize(
    ("body", "encoding", "after"),
    [
        pytest.param(LONG[:-6] + b"</p>", "8bit", "8bit", id="998-still-fits"),
        pytest.param(LONG, "7bit", "quoted-printable", id="grows-past-998"),
        pytest.param(LONG + b"\r\n" + LONG, "8bit", "quoted-printable", id="last-of-two-grows"),
    ],
)
def test_a_line_that_grows_past_998_octets_turns_the_part_quoted_printable(
    body: bytes, encoding: str, after: str
) -> None:
    original = message(html_part(body, encoding))
    rewritten = rewrite_html_parts(original, lambda text: text + "<b>", [])
    assert rewritten is not None
    assert_valid(rewritten)
    assert parsed(rewritten)["Content-Transfer-Encoding"] == after
    assert texts(rewritten) == [texts(original)[0] + "<b>"]


OTHER_PARTS = [
    b'Content-Type: text/plain\r\n\r\n<a href="http://plain.test/">plain</a>',
    b"Content-Type: text/html\r\nContent-Disposition: attachment; filename=p.html\r\n\r\n<p>att",
    b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=",
    b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: text/html\r\n\r\n<p>in",
    b"Content-Type: text/html; charset=utf-16\r\n\r\n" + "<p>x</p>".encode("utf-16"),
    b"Content-Type: text/html; charset=x-unknown\r\n\r\n<p>unknown charset</p>",
    b"Content-Type: text/html\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x",
    b"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n#not base64#",
]


def test_nested_parts_are_rewritten_and_every_other_byte_is_kept() -> None:
    inner = multipart(
        "inner=_1",
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello",
        html_part(crlf(binascii.b2a_qp(HTML)), "quoted-printable"),
        kind="alternative",
    )
    original = message(
        multipart("outer", inner, *OTHER_PARTS, html_part(B64, "base64"), kind="mixed")
    )
    rewritten = rewrite_html_parts(original, add, [])
    assert rewritten is not None
    assert_valid(rewritten)
    html_parts = [p for p in parsed(rewritten).walk() if p.get_content_type() == "text/html"]
    assert [str(html_parts[i].get_content()) for i in (0, -1)] == [HTML.decode() + ADDED] * 2
    for part in OTHER_PARTS:
        assert part in rewritten  # byte for byte
    # Everything before the first rewritten body, and after the last, is as it was.
    head = original[: original.index(b"<p>Gr")]
    assert rewritten.startswith(head)
    assert rewritten.endswith(b"--outer--\r\nepilogue\r\n")
    assert rewritten.count(b"--inner=_1") == original.count(b"--inner=_1") == 3


@pytest.mark.parametrize(
    "original",
    [
        pytest.param(message(multipart("b", *OTHER_PARTS)), id="no-part-to-rewrite"),
        pytest.param(
            message(multipart("b", html_part(HTML, "8bit")))[:-len(b"--b--\r\nepilogue\r\n")],
            id="no-closing-boundary",
        ),
        pytest.param(message(b"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx"),
                     id="multipart-without-boundary"),
        pytest.param(b"Content-Type: text/html\r\n<p>no blank line after the header",
                     id="no-body"),
    ],
)  # fmt: skip
def test_nothing_to_rewrite_is_none(original: bytes) -> None:
    assert rewrite_html_parts(original, add, []) is None


def test_only_real_boundary_lines_split_parts() -> None:
    tricky = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n--bx is not a boundary\r\n--b is not either\r\n"
        b"--b \t\r\n"  # transport padding after a boundary is allowed
        + html_part(b"<p>x</p>", "7bit")
        + b"\r\n--b--  \r\n"
    )
    rewritten = rewrite_html_parts(tricky, add, [])
    assert rewritten is not None
    assert rewritten == tricky.replace(b"<p>x</p>", b"<p>x</p>" + ADDED.encode())
    # The CRLF before a delimiter belongs to the delimiter, not to the part (RFC 2046 5.1.1).
    assert part_spans(b"--b\r\nA\r\n--bb\r\nB\r\n--b--", b"b") == [(5, 15)]


@pytest.mark.parametrize(("depth", "rewritten"), [(19, True), (21, False)])
def test_nesting_is_followed_to_a_bounded_depth(depth: int, rewritten: bool) -> None:
    entity = html_part(b"<p>deep</p>", "7bit")
    for level in range(depth):
        entity = multipart(f"level{level}", entity)
    result = rewrite_html_parts(message(entity), add, [])
    assert (result is not None) == rewritten
    if result is not None:
        assert texts(result) == ["<p>deep</p>" + ADDED]


ATOM = "mgtc" + "a1" * 14  # as long as a tracking placeholder


# Every column an atom can follow on, over two encoded lines (76 once made a 77-character line:
# b2a_qp had filled the line, and the soft break after it did not fit).
@pytest.mark.parametrize("column", [*range(160), 200])
def test_an_atom_is_never_split_by_a_soft_line_break(column: int) -> None:
    text = "é" * (column // 3) + "x" * (column - 3 * (column // 3))  # é is "=C3=A9" in QP
    original = message(html_part(crlf(binascii.b2a_qp(text.encode())), "quoted-printable"))
    rewritten = rewrite_html_parts(original, lambda t: f"{t}{ATOM}<p>after</p>", [ATOM])
    assert rewritten is not None
    assert_valid(rewritten)
    body = rewritten.split(b"\r\n\r\n", 1)[1]
    [line] = [line for line in body.split(b"\r\n") if ATOM.encode() in line]
    assert line.endswith(ATOM.encode() + b"=")  # the line ends after the atom
    assert texts(rewritten) == [text + ATOM + "<p>after</p>"]


def test_text_parts_of_a_campaign_become_quoted_printable_utf8_with_their_parameters() -> None:
    plain = (
        b'Content-Type: text/plain; format=flowed; charset="iso-8859-1"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe"
    )
    html = b"Content-Type: text/html; charset=us-ascii\r\n\r\n<p>Hi</p>"
    original = message(multipart("c", plain, html, *OTHER_PARTS[1:3], kind="alternative"))
    rewritten = rewrite_text_parts(
        original, {"text/plain": lambda t: t + " ✓", "text/html": add}, []
    )
    assert rewritten is not None
    assert_valid(rewritten)
    parts = [p for p in parsed(rewritten).walk() if p.get_content_maintype() == "text"]
    rewritten_parts = parts[:2]
    assert [str(p.get_content()) for p in rewritten_parts] == ["Grüße ✓", "<p>Hi</p>" + ADDED]
    for part in rewritten_parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert parts[0].get_param("format") == "flowed"
    for part in OTHER_PARTS[1:3]:
        assert part in rewritten
    assert rewrite_text_parts(original, {"text/plain": lambda t: t}, []) is None
