"""mta/outbound/recipient_copy.py on its own: a stored message that was not marked is sent as
it is; a tracked one becomes, for each delivery, a copy with that delivery's tokens and the
recipient's merge values filled in, signed with the sender domain's key so that dkimpy's
verifier accepts it with the published record, and no two recipients' copies alike."""

from __future__ import annotations

import binascii
import email
import email.policy
import uuid
from email.message import EmailMessage

import dkim  # type: ignore[import-untyped]  # dkimpy ships no type information
import pytest

from dns_tools.records import dkim_txt
from mta.campaigns.merge_tags import TEXT, Template
from mta.outbound.recipient_copy import NoTrackingKey, content_for, is_personal
from mta.tracking.rewrite import MARKER, Plan, TrackingSettings, prepare
from mta.tracking.tokens import Purpose, read_recipient_token, tracking_key
from storage.domains import new_dkim_key
from storage.outbound import OutboundMessage

KEY = tracking_key(b"c" * 32)
SETTINGS = TrackingSettings(KEY, "https://gateway.test/", "links", "bounces")
BASE = "https://links.shop.test"
PLAN = Plan(True, True, True, BASE, "bounces.shop.test")
PEM = new_dkim_key()
SELECTOR = "mgcopy01"
MESSAGE_ID = uuid.UUID(int=11)

RAW = (
    b"From: Shop <news@shop.test>\r\nTo: friend@example.org\r\nSubject: Offers\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
) + binascii.b2a_qp('<body><p>Grüße</p><a href="https://shop.test/sale">Sale</a></body>'.encode())


def published(name: bytes, timeout: float = 5) -> bytes | None:
    """dkimpy's DNS lookup: the shop's DKIM record, as `domain add` prints it."""
    wanted = f"{SELECTOR}._domainkey.shop.test"
    return dkim_txt(PEM).encode() if name.decode().rstrip(".") == wanted else None


def stored(raw: bytes, signing: bool = True) -> OutboundMessage:
    return OutboundMessage(
        id=MESSAGE_ID, raw=raw, mail_from="news@shop.test", user_id=1, sender_domain_id=1,
        sender_domain="shop.test", return_path_subdomain=None,
        dkim_selector=SELECTOR if signing else None, dkim_private_key=PEM if signing else None,
    )  # fmt: skip


def tracked() -> bytes:
    prepared = prepare(SETTINGS, PLAN, RAW, MESSAGE_ID)
    assert prepared is not None and prepared.startswith(MARKER)
    return prepared


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_message_not_marked_is_sent_as_stored() -> None:
    message = stored(RAW)
    assert is_personal(message) is False
    assert content_for(message, 5, "friend@example.org", None, KEY) is message.raw
    assert content_for(message, 5, "friend@example.org", None, None) is message.raw


def test_a_tracked_copy_carries_its_deliverys_tokens_and_a_valid_signature() -> None:
    message = stored(tracked())
    assert is_personal(message) is True
    copy = content_for(message, 41, "friend@example.org", None, KEY)
    assert copy.startswith(b"DKIM-Signature: ")
    assert MARKER not in copy and b"mgt" not in copy  # every placeholder filled
    assert dkim.verify(copy, dnsfunc=published) is True
    html = str(parsed(copy).get_body(("html",)).get_content())  # type: ignore[union-attr]
    opened = html.split(f"{BASE}/t/o/")[1].split('"')[0]
    clicked = html.split(f"{BASE}/t/c/")[1].split('"')[0].split(".")[0]
    assert read_recipient_token(KEY, Purpose.OPEN, opened) == 41
    assert read_recipient_token(KEY, Purpose.CLICK, clicked) == 41
    unsubscribe = str(parsed(copy)["List-Unsubscribe"])
    token = unsubscribe.split(f"{BASE}/u/")[1].split(">")[0]
    assert read_recipient_token(KEY, Purpose.UNSUBSCRIBE, token) == 41
    assert "list-unsubscribe-post" in signed_headers(copy)


def signed_headers(copy: bytes) -> list[str]:
    """The names in the copy's DKIM-Signature `h=` tag, in lower case."""
    value = copy.split(b"\r\n\r\n", 1)[0].decode().split("DKIM-Signature:", 1)[1]
    listed = value.split("h=", 1)[1].split(";", 1)[0]
    return "".join(listed.split()).lower().split(":")


def test_each_delivery_gets_a_copy_of_its_own() -> None:
    message = stored(tracked())
    copies = [
        content_for(message, delivery, "friend@example.org", None, KEY) for delivery in (1, 2)
    ]
    assert copies[0] != copies[1]
    for copy in copies:
        assert dkim.verify(copy, dnsfunc=published) is True
    # Tokens have one length: the bodies differ in their tokens' bytes only, not in length.
    assert len(copies[0].split(b"\r\n\r\n", 1)[1]) == len(copies[1].split(b"\r\n\r\n", 1)[1])


def test_a_tampered_copy_no_longer_verifies() -> None:
    copy = content_for(stored(tracked()), 3, "friend@example.org", None, KEY)
    assert dkim.verify(copy.replace(b"Offers", b"0ffers"), dnsfunc=published) is False


def test_a_tracked_message_needs_the_tracking_key() -> None:
    with pytest.raises(NoTrackingKey, match="mailgate init"):
        content_for(stored(tracked()), 1, "friend@example.org", None, None)


def test_without_a_signing_key_the_copy_is_personalised_but_unsigned() -> None:
    copy = content_for(stored(tracked(), signing=False), 9, "friend@example.org", None, KEY)
    assert not copy.startswith(b"DKIM-Signature") and MARKER not in copy and b"mgt" not in copy


def merged_message() -> bytes:
    """A campaign's stored message: the recipient and a merge tag in the text as placeholders,
    tracking's marker first and the merge line after it."""
    template = Template.of("Dear $$Name$$,")
    body = template.replace("Dear $$Name$$, your code is below.", TEXT)
    raw = (
        f"From: news@shop.test\r\nTo: {template.recipient}\r\nSubject: Hi\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode() + binascii.b2a_qp(body.encode())
    plan = Plan(False, False, True, BASE, "bounces.shop.test")  # adds List-Unsubscribe only
    prepared = prepare(SETTINGS, plan, raw, MESSAGE_ID, keep=template.words())
    assert prepared is not None
    return template.marked(prepared, None)


@pytest.mark.parametrize(
    ("recipient", "values", "dear"),
    [
        ("ann@example.org", {"name": "Ann"}, "Dear Ann,"),
        ("bo@example.org", {"name": "Bö Ünal"}, "Dear Bö Ünal,"),
        ("cy@example.org", None, "Dear ,"),  # a missing value is empty
    ],
    ids=["ascii", "non-ascii", "no-values"],
)
def test_a_campaign_copy_has_the_recipients_values_and_is_signed(
    recipient: str, values: dict[str, str] | None, dear: str
) -> None:
    copy = content_for(stored(merged_message()), 7, recipient, values, KEY)
    assert dkim.verify(copy, dnsfunc=published) is True
    assert b"X-Mailgate-Merge" not in copy and b"mgm" not in copy
    message = parsed(copy)
    assert message["To"] == recipient
    assert str(message.get_content()).startswith(f"{dear} your code is below.")
