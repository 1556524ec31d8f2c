"""mta/verp.py as tables, in process: the return path a transaction is sent with, and
reading the message and delivery back from the address a bounce comes to."""

from __future__ import annotations

import uuid

import pytest

from mta.verp import parse_verp, parse_verp_delivery, verp_sender
from storage.outbound import OutboundMessage

MESSAGE_ID = uuid.UUID("0123456789abcdef0123456789abcdef")
HEX = MESSAGE_ID.hex


def outbound(
    sender_domain: str | None = "shop.test", subdomain: str | None = None
) -> OutboundMessage:
    return OutboundMessage(
        id=MESSAGE_ID, raw=b"", mail_from="news@shop.test", user_id=1, sender_domain_id=2,
        sender_domain=sender_domain, return_path_subdomain=subdomain,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("message", "delivery_id", "expected"),
    [
        (outbound(), None, f"b.{HEX}@bounces.shop.test"),  # several recipients: the message
        (outbound(), 42, f"b.{HEX}.42@bounces.shop.test"),  # one: its delivery too
        (outbound(subdomain="rp"), 7, f"b.{HEX}.7@rp.shop.test"),  # the domain's own subdomain
        (outbound(sender_domain=None), 42, "news@shop.test"),  # no sender domain: as sent
    ],
)
def test_verp_sender(message: OutboundMessage, delivery_id: int | None, expected: str) -> None:
    assert verp_sender(message, "bounces", delivery_id) == expected


@pytest.mark.parametrize(
    ("local_part", "expected"),
    [
        (f"b.{HEX}", MESSAGE_ID),
        (f"b.{HEX}.42", MESSAGE_ID),
        (f"B.{HEX.upper()}", MESSAGE_ID),  # case is not ours to keep
        (f"b.{HEX[:-1]}", None),  # one digit short
        (f"c.{HEX}", None),
        (HEX, None),
        ("b.", None),
        ("postmaster", None),
        ("", None),
    ],
)
def test_parse_verp(local_part: str, expected: uuid.UUID | None) -> None:
    assert parse_verp(local_part) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (f"b.{HEX}.42@bounces.shop.test", 42),
        (f"b.{HEX}@bounces.shop.test", None),  # the message only
        (f"b.{HEX}.x42@bounces.shop.test", None),
        (f"b.{HEX}.4.2@bounces.shop.test", None),
        ("b.nothex.42@bounces.shop.test", None),  # not ours at all
        (f"b.{HEX}.42", None),  # no domain: no local part either
    ],
)
def test_parse_verp_delivery(address: str, expected: int | None) -> None:
    assert parse_verp_delivery(address) == expected


@pytest.mark.parametrize("delivery_id", [None, 1, 987654321])
def test_what_is_sent_reads_back(delivery_id: int | None) -> None:
    address = verp_sender(outbound(), "bounces", delivery_id)
    assert parse_verp(address.rpartition("@")[0]) == MESSAGE_ID
    assert parse_verp_delivery(address) == delivery_id
