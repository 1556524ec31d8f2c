"""Delivery end to end: mail submitted to `mailgate serve` leaves through its delivery worker
for a real destination server (tests/mta/sink.py, reached by a static route), and each
recipient's outcome (delivered, deferred and retried, bounced, expired) is recorded as the queue
state and as events; a hard bounce suppresses the address."""

from __future__ import annotations

import json
import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest

from tests.conftest import STORES, Gateway, make_gateway, on_store, wait_until
from tests.mta.conftest import DnsRecord, Sender, add_sender
from tests.mta.sink import Sink
from tests.mta.support import expect, message, queued_id

LIFETIME = 4.0  # seconds a deferred recipient may wait before it bounces as expired


@dataclass
class Setup:
    gateway: Gateway
    sink: Sink
    sender: Sender


def start_setup(tmp: Path, sink: Sink, domain: str, store: str = "", **env: str) -> Setup:
    """A running gateway with one SMTP and one delivery process, loopback as a relay network,
    and an enabled sender `domain`; `env` adds or overrides settings (routes, retries, ...)."""
    defaults = {
        "MAILGATE_RELAY_NETWORKS": "127.0.0.0/8",
        "MAILGATE_SMTP_PROCESSES": "1",
        "MAILGATE_DELIVERY_PROCESSES": "1",
    }
    gateway = make_gateway(tmp, store=store, **(defaults | env))
    user_id = int(gateway.json("user", "add", f"owner@{domain}")["UserID"])
    sender = add_sender(gateway, user_id, domain)
    gateway.start()
    return Setup(gateway, sink, sender)


def running_setup(tmp: Path, store: str) -> Iterator[Setup]:
    with Sink() as sink:
        running = start_setup(
            tmp,
            sink,
            "delivery.test",
            store,
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_RETRY_SCHEDULE="1s",
            MAILGATE_MAX_QUEUE_LIFETIME=f"{LIFETIME}s",
        )
        try:
            yield running
        finally:
            running.gateway.stop()


@pytest.fixture(scope="module")
def module_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    yield from running_setup(tmp_path_factory.mktemp("delivery"), "")


@pytest.fixture(scope="module")
def postgresql_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    yield from running_setup(tmp_path_factory.mktemp("delivery-pg"), "postgresql")


@pytest.fixture
def setup(request: pytest.FixtureRequest) -> Setup:
    """The module's gateway; for a test parametrised over STORES, the one on PostgreSQL too."""
    found: Setup = on_store(request, "setup")
    return found


def submit(setup: Setup, recipients: list[str], body: str = "Hello.") -> uuid.UUID:
    sender = setup.sender.address
    with smtplib.SMTP("127.0.0.1", setup.gateway.ports["smtp"], timeout=15) as smtp:
        smtp.ehlo()
        expect(smtp.mail(sender), "250 2.1.0")
        for recipient in recipients:
            expect(smtp.rcpt(recipient), "250 2.1.5")
        return queued_id(smtp.data(message(sender, recipients[0], body=body)))


def statuses(setup: Setup, queue_id: uuid.UUID) -> dict[str, str]:
    rows = setup.gateway.sql(
        "SELECT recipient, status FROM deliveries WHERE message_id = ?", queue_id.hex
    )
    return dict(rows)


def settled(setup: Setup, queue_id: uuid.UUID, final: dict[str, str]) -> dict[str, str]:
    """Wait until the message's recipients reach `final`; returns the statuses."""
    return wait_until(lambda: statuses(setup, queue_id) == final and final, timeout=30)


def events(setup: Setup, queue_id: uuid.UUID, recipient: str) -> list[tuple[str, dict]]:
    rows = setup.gateway.sql(
        "SELECT type, data FROM events WHERE message_id = ? AND recipient = ? ORDER BY id",
        queue_id.hex,
        recipient,
    )
    return [(kind, json.loads(data)) for kind, data in rows]


@pytest.mark.parametrize("setup", STORES, indirect=True)
def test_message_reaches_the_destination_signed_and_intact(setup: Setup) -> None:
    to = ["ok-a@dest.example", "ok-b@dest.example", "ok-c@other.example"]
    queue_id = submit(setup, to, body="Signed and intact.")
    settled(setup, queue_id, dict.fromkeys(to, "delivered"))

    [stored] = setup.gateway.sql("SELECT raw FROM messages WHERE id = ?", queue_id.hex)
    same_domain = setup.sink.transactions_to("ok-a@dest.example")
    assert [t.recipients for t in same_domain] == [("ok-a@dest.example", "ok-b@dest.example")]
    other = setup.sink.transactions_to("ok-c@other.example")
    assert [t.recipients for t in other] == [("ok-c@other.example",)]
    for transaction in (*same_domain, *other):
        assert transaction.content == bytes(stored[0])
    # VERP: the message names itself; a lone recipient's transaction names its delivery too.
    assert same_domain[0].mail_from == f"b.{queue_id.hex}@{setup.sender.return_path}"
    [(delivery_id,)] = setup.gateway.sql(
        "SELECT id FROM deliveries WHERE recipient = 'ok-c@other.example'"
    )
    assert other[0].mail_from == f"b.{queue_id.hex}.{delivery_id}@{setup.sender.return_path}"
    assert dkim.verify(same_domain[0].content, dnsfunc=DnsRecord(setup.sender))

    assert set(setup.sink.handler.ehlo_names) == {"mx.mailgate.test"}  # our configured name
    [(kind, data)] = [e for e in events(setup, queue_id, "ok-a@dest.example") if e[0] != "queued"]
    assert kind == "delivered"
    assert data["remote_host"] == "127.0.0.1"
    assert data["reply"] == "250 2.0.0 Ok: stored"
    assert 0 <= data["seconds"] < 30


def test_a_slow_destination_does_not_hold_back_the_others(setup: Setup) -> None:
    slow = submit(setup, ["slow-a@slow.example"])
    fast = submit(setup, ["ok-f@fast.example"])
    settled(setup, fast, {"ok-f@fast.example": "delivered"})
    assert statuses(setup, slow) == {"slow-a@slow.example": "queued"}  # still in its session
    settled(setup, slow, {"slow-a@slow.example": "delivered"})


def test_a_temporary_failure_is_retried_then_delivered(setup: Setup) -> None:
    queue_id = submit(setup, ["once-a@dest.example"])
    settled(setup, queue_id, {"once-a@dest.example": "delivered"})
    kinds = [kind for kind, _ in events(setup, queue_id, "once-a@dest.example")]
    assert kinds == ["queued", "deferred", "delivered"]
    deferred = events(setup, queue_id, "once-a@dest.example")[1][1]
    assert deferred["reply"] == "451 4.3.0 Try again later"
    assert deferred["enhanced_code"] == "4.3.0"
    assert setup.sink.handler.offered["once-a@dest.example"] == 2


@pytest.mark.parametrize("setup", STORES, indirect=True)
def test_unknown_user_bounces_and_is_suppressed(setup: Setup) -> None:
    queue_id = submit(setup, ["unknown-a@dest.example", "ok-d@dest.example"])
    settled(
        setup, queue_id, {"unknown-a@dest.example": "bounced", "ok-d@dest.example": "delivered"}
    )
    [(_, data)] = [
        e for e in events(setup, queue_id, "unknown-a@dest.example") if e[0] == "bounced"
    ]
    assert (data["enhanced_code"], data["category"], data["bounce_type"]) == (
        "5.1.1",
        "bad-mailbox",
        "hard",
    )
    assert data["bounce_reason"] == "userunknown"  # Sisimai's word beside PowerMTA's category
    assert setup.gateway.sql(
        "SELECT scope, reason FROM suppressions WHERE address = 'unknown-a@dest.example'"
    ) == [("account", "bad-mailbox")]

    with smtplib.SMTP("127.0.0.1", setup.gateway.ports["smtp"], timeout=15) as smtp:
        smtp.ehlo()
        expect(smtp.mail(setup.sender.address), "250 2.1.0")
        expect(
            smtp.rcpt("Unknown-A@dest.example"), "550 5.7.1 Recipient email address is suppressed"
        )


def test_a_spam_block_bounces_without_suppressing_the_address(setup: Setup) -> None:
    queue_id = submit(setup, ["spam-a@dest.example"])
    settled(setup, queue_id, {"spam-a@dest.example": "bounced"})
    [(_, data)] = [e for e in events(setup, queue_id, "spam-a@dest.example") if e[0] == "bounced"]
    assert data["category"] == "spam-related"
    assert setup.gateway.sql(
        "SELECT count(*) FROM suppressions WHERE address = 'spam-a@dest.example'"
    ) == [(0,)]


@pytest.mark.parametrize("local", ["busy", "drop"])
def test_deferred_recipients_bounce_as_expired_after_their_lifetime(
    setup: Setup, local: str
) -> None:
    recipient = f"{local}-a@dest.example"
    queue_id = submit(setup, [recipient])
    settled(setup, queue_id, {recipient: "bounced"})
    history = events(setup, queue_id, recipient)
    kinds = [kind for kind, _ in history]
    assert kinds[0] == "queued" and kinds[-1] == "bounced"
    assert set(kinds[1:-1]) == {"deferred"} and len(kinds) >= 3  # tried more than once
    bounced = history[-1][1]
    assert (bounced["category"], bounced["enhanced_code"], bounced["bounce_reason"]) == (
        "message-expired",
        "4.4.7",
        "expired",
    )
    assert setup.gateway.sql("SELECT count(*) FROM suppressions WHERE address = ?", recipient) == [
        (0,)
    ]
