"""`emailgateway.smtprelay`: an SMTP relay server checks credentials and hands over messages
through Mailgate's own submission path, with the policy's error codes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dkim
import httpx
import pytest

from tests.conftest import Gateway, make_gateway, wait_until
from tests.http_api.conftest import serving
from tests.mta.conftest import DnsRecord, Sender, add_sender

MAX_MESSAGE_SIZE = 10_000
MAX_RECIPIENTS = 3


@dataclass
class Relay:
    gateway: Gateway
    client: httpx.Client
    admin_key: str
    sender: Sender
    user_id: int

    def call(self, **params: Any) -> dict[str, Any]:
        body = {"Command": "emailgateway.smtprelay", "AdminAPIKey": self.admin_key, **params}
        return self.client.post("/api.php", json=body).json()

    def relay(self, **params: Any) -> dict[str, Any]:
        login = {"SMTPUsername": self.sender.username, "SMTPPassword": self.sender.password}
        return self.call(**(login | params))


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    gateway = make_gateway(
        tmp_path_factory.mktemp("relay"),
        MAILGATE_SMTP_PROCESSES="1",
        MAILGATE_MAX_MESSAGE_SIZE=str(MAX_MESSAGE_SIZE),
        MAILGATE_MAX_RECIPIENTS=str(MAX_RECIPIENTS),
    )
    user_id = int(gateway.json("user", "add", "owner@relay.test")["UserID"])
    sender = add_sender(gateway, user_id, "relay.test")
    admin_key = gateway.json("admin-key")["AdminAPIKey"]
    with serving(gateway) as client:
        yield Relay(gateway, client, admin_key, sender, user_id)


def raw_email(sender: str, subject: str = "Relayed") -> str:
    return f"From: {sender}\r\nTo: friend@example.org\r\nSubject: {subject}\r\n\r\nHello.\r\n"


def stored(relay: Relay, queue_id: str) -> list[tuple[Any, ...]]:
    return relay.gateway.sql(
        "SELECT m.raw, d.recipient FROM messages m JOIN deliveries d ON d.message_id = m.id"
        " WHERE m.id = ?",
        uuid.UUID(queue_id).hex,
    )


def test_a_credentials_check_echoes_them(relay: Relay) -> None:
    answer = relay.relay()
    assert answer == {
        "Success": True,
        "ErrorCode": 0,
        "SMTPUsername": relay.sender.username,
        "SMTPPassword": relay.sender.password,
    }


def test_a_relayed_message_is_queued_signed_and_once_per_uuid(relay: Relay) -> None:
    name = str(uuid.uuid4())
    params = {
        "UUID": name,
        "MailFrom": relay.sender.address,
        "RcptTo": "friend@example.org, other@example.net",
        "RawEmail": raw_email(relay.sender.address),
    }
    answer = relay.relay(**params)
    assert answer["Success"] is True and answer["ErrorCode"] == 0
    assert answer["SMTPResponse"] == f"250 2.0.0 Ok: queued as {name}"
    rows = stored(relay, name)
    assert sorted(recipient for _, recipient in rows) == ["friend@example.org", "other@example.net"]
    assert dkim.verify(bytes(rows[0][0]), dnsfunc=DnsRecord(relay.sender))
    assert b"with HTTP id " + name.encode() in bytes(rows[0][0])

    again = relay.relay(**params)  # the relay server retrying after a lost answer
    assert again["SMTPResponse"] == answer["SMTPResponse"]
    assert len(stored(relay, name)) == 2  # still one message, two recipients


def test_a_uuid_another_domain_used_is_a_new_message_not_a_retry(relay: Relay) -> None:
    name = str(uuid.uuid4())
    mine = {"MailFrom": relay.sender.address, "RcptTo": "friend@example.org"}
    relay.relay(UUID=name, RawEmail=raw_email(relay.sender.address, "First"), **mine)

    other_user = int(relay.gateway.json("user", "add", "owner@clash.test")["UserID"])
    other = add_sender(relay.gateway, other_user, "clash.test")
    answer = relay.call(
        SMTPUsername=other.username, SMTPPassword=other.password, UUID=name,
        MailFrom=other.address, RcptTo="someone@example.org",
        RawEmail=raw_email(other.address, "Second"),
    )  # fmt: skip
    assert answer["Success"] is True
    queue_id = answer["SMTPResponse"].removeprefix("250 2.0.0 Ok: queued as ")
    assert queue_id != name  # a new id: the message is stored, the other one is not revealed
    [(raw, recipient)] = stored(relay, queue_id)
    assert recipient == "someone@example.org" and b"Subject: Second" in bytes(raw)
    [(first, _)] = stored(relay, name)
    assert b"Subject: First" in bytes(first)


def test_a_malformed_header_is_a_permanent_refusal_not_a_server_error(relay: Relay) -> None:
    address = relay.sender.address
    raw = f"From: {address}\r\nX-Junk\r\nSubject: x\r\n\r\nHello.\r\n"
    answer = relay.relay(MailFrom=address, RcptTo="friend@example.org", RawEmail=raw)
    assert answer["Success"] is False
    assert answer["SMTPResponse"].startswith("554 5.6.0 Message header is malformed")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"SMTPPassword": "x"}, 1),
        ({"SMTPUsername": "x"}, 2),
    ],
)
def test_missing_credentials(relay: Relay, params: dict[str, str], code: int) -> None:
    answer = relay.call(**params)
    assert (answer["Success"], answer["ErrorCode"]) == (False, code)


def test_wrong_credentials_and_admin_key(relay: Relay) -> None:
    wrong = relay.relay(SMTPPassword="wrong")
    assert wrong == {
        "Success": False,
        "SMTPResponse": "535 5.7.8 Invalid SMTP credentials",
        "ErrorCode": 3,
    }
    relay_with_bad_key = relay.client.post(
        "/api.php",
        json={"Command": "emailgateway.smtprelay", "AdminAPIKey": "nope", "SMTPUsername": "x"},
    )
    assert relay_with_bad_key.json()["ErrorCode"] == 99998


def test_policy_refusals_carry_their_codes(relay: Relay) -> None:
    address = relay.sender.address
    other = relay.relay(MailFrom="app@elsewhere.example", RcptTo="a@example.org", RawEmail="x")
    assert (other["ErrorCode"], other["SMTPResponse"][:9]) == (4, "553 5.7.1")

    relay.gateway.sql(
        "INSERT INTO suppressions (address, scope, user_id, reason, source, created_at)"
        " VALUES ('blocked@example.org', 'account', ?, 'hard bounce', 'test', '2026-01-01')",
        relay.user_id,
    )
    only_blocked = relay.relay(MailFrom=address, RcptTo="blocked@example.org", RawEmail="x")
    assert only_blocked["ErrorCode"] == 8
    some_blocked = relay.relay(
        MailFrom=address,
        RcptTo="blocked@example.org,fine@example.org",
        RawEmail=raw_email(address),
    )
    assert some_blocked["Success"] is True
    assert some_blocked["SuppressedRecipients"] == ["blocked@example.org"]

    relay.gateway.json("domain", "disable", str(relay.sender.domain_id))

    def inactive() -> dict[str, Any] | None:
        answer = relay.relay(MailFrom=address, RcptTo="a@example.org", RawEmail=raw_email(address))
        return answer if answer["ErrorCode"] == 5 else None

    assert wait_until(inactive)["SMTPResponse"].startswith("550 5.7.1 Sender domain is not active")
    relay.gateway.json("domain", "enable", str(relay.sender.domain_id))

    for status, code in (("unverified", 6), ("deactivated", 7), ("active", 0)):
        relay.gateway.sql("UPDATE users SET status = ? WHERE id = ?", status, relay.user_id)

        def answered(code: int = code) -> dict[str, Any] | None:
            answer = relay.relay(
                MailFrom=address, RcptTo="a@example.org", RawEmail=raw_email(address)
            )
            return answer if answer["ErrorCode"] == code else None

        wait_until(answered)  # senders are cached for a second


def messages(relay: Relay) -> int:
    [(count,)] = relay.gateway.sql("SELECT count(*) FROM messages")
    return int(count)


def test_the_gateways_limits_hold_for_relayed_mail(relay: Relay) -> None:
    """The submission path's size and recipient limits (smtprelay checked neither: with these
    limits it queued 50,908 bytes to 20 recipients). A refusal has 001's error shape; 001 lists
    no ErrorCode for either, so it is 0 and the SMTPResponse says what, permanently (5xx): the
    relay server would retry a 4xx for days."""
    address = relay.sender.address
    twenty = ",".join(f"r{n}@example.org" for n in range(20))
    big = raw_email(address) + ("x" * 70 + "\r\n") * 700  # about 50 KB, five times the limit
    before = messages(relay)

    too_big = relay.relay(MailFrom=address, RcptTo="friend@example.org", RawEmail=big)
    assert set(too_big) == {"Success", "SMTPResponse", "ErrorCode"}
    assert (too_big["Success"], too_big["ErrorCode"]) == (False, 0)
    assert too_big["SMTPResponse"].startswith("552 5.3.4 Message size exceeds fixed maximum")

    too_many = relay.relay(MailFrom=address, RcptTo=twenty, RawEmail=raw_email(address))
    assert too_many == {
        "Success": False,
        "SMTPResponse": "552 5.5.3 Too many recipients for one message: 20, at most 3",
        "ErrorCode": 0,
    }
    both = relay.relay(MailFrom=address, RcptTo=twenty, RawEmail=big)
    assert both["Success"] is False and both["ErrorCode"] == 0
    assert messages(relay) == before

    at_limits = raw_email(address) + "x" * (MAX_MESSAGE_SIZE - len(raw_email(address)))
    three = ",".join(f"r{n}@example.org" for n in range(MAX_RECIPIENTS))
    answer = relay.relay(MailFrom=address, RcptTo=three, RawEmail=at_limits)
    assert answer["Success"] is True, answer
    assert len(stored(relay, answer["SMTPResponse"].rpartition(" ")[2])) == MAX_RECIPIENTS


def test_envelope_addresses_must_be_addresses(relay: Relay) -> None:
    address = relay.sender.address
    no_address = relay.relay(MailFrom=address, RcptTo="friend", RawEmail=raw_email(address))
    assert (no_address["ErrorCode"], no_address["SMTPResponse"][:9]) == (0, "501 5.1.3")
    junk_sender = relay.relay(MailFrom="junk", RcptTo="a@example.org", RawEmail=raw_email(address))
    assert (junk_sender["ErrorCode"], junk_sender["SMTPResponse"][:9]) == (4, "501 5.1.7")
    nobody = relay.relay(MailFrom=address, RcptTo=" , ", RawEmail=raw_email(address))
    assert (nobody["ErrorCode"], nobody["SMTPResponse"][:9]) == (0, "554 5.5.1")
