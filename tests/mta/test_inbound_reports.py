"""Reports that come back on port 25 to a VERP address: a delivery status notification becomes
a bounce for the right message and recipient, an ARF report a complaint; both suppress the
address for the sender's account, so the next submission to it is refused."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tests.http_api.conftest import answering
from tests.mta.sink import Sink
from tests.mta.support import expect, logged_in, message, queued_id, send
from tests.mta.test_delivery import Setup, events, settled, start_setup, statuses

SAMPLES = Path(__file__).with_name("bounce_samples")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with Sink() as sink:
        running = start_setup(
            tmp_path_factory.mktemp("inbound"),
            sink,
            "inbound.test",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_RELAY_NETWORKS="",  # reports arrive like any mail from the internet
        )
        try:
            yield running
        finally:
            running.gateway.stop()


def delivered_message(setup: Setup, *recipients: str) -> uuid.UUID:
    sender = setup.sender
    with logged_in(setup.gateway.ports["submission"], sender.username, sender.password) as smtp:
        queue_id = queued_id(send(smtp, sender.address, message(sender.address), recipients))
    settled(setup, queue_id, dict.fromkeys(recipients, "delivered"))
    return queue_id


def report_from_sample(name: str, setup: Setup, queue_id: uuid.UUID, recipient: str) -> bytes:
    """A stored sample report, rewritten to be about our message and recipient."""
    text = (SAMPLES / name).read_text()
    for line in text.splitlines():
        if "@bounces.example.com" in line and "b." in line:
            old_id = line.split("b.", 1)[1][:32]
            break
    text = text.replace(old_id, queue_id.hex).replace(
        "bounces.example.com", setup.sender.return_path
    )
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def send_report(
    setup: Setup, queue_id: uuid.UUID, report: bytes, delivery_id: int | None = None
) -> None:
    token = queue_id.hex if delivery_id is None else f"{queue_id.hex}.{delivery_id}"
    verp = f"b.{token}@{setup.sender.return_path}"
    with smtplib.SMTP("127.0.0.1", setup.gateway.ports["smtp"], timeout=15) as smtp:
        smtp.ehlo("mx.remote.example")
        expect(smtp.mail("<>"), "250 2.1.0")
        expect(smtp.rcpt(verp), "250 2.1.5")
        queued_id(smtp.data(report))


def refused_at_rcpt(setup: Setup, recipient: str) -> str:
    sender = setup.sender
    with logged_in(setup.gateway.ports["submission"], sender.username, sender.password) as smtp:
        expect(smtp.mail(sender.address), "250 2.1.0")
        code, text = smtp.rcpt(recipient)
    return f"{code} {text.decode()}"


def test_a_dsn_becomes_a_bounce_and_suppresses(setup: Setup) -> None:
    recipient = "jane@example.org"  # the sample's original recipient
    queue_id = delivered_message(setup, recipient)
    send_report(
        setup, queue_id, report_from_sample("postfix_user_unknown.eml", setup, queue_id, recipient)
    )

    wait_until(lambda: statuses(setup, queue_id) == {recipient: "bounced"})
    kind, data = events(setup, queue_id, recipient)[-1]
    assert kind == "bounced"
    assert (data["source"], data["bounce_type"], data["category"]) == ("dsn", "hard", "bad-mailbox")
    assert (data["enhanced_code"], data["bounce_reason"]) == ("5.1.1", "userunknown")
    assert setup.gateway.sql(
        "SELECT reason, source FROM suppressions WHERE address = ?", recipient
    ) == [("bad-mailbox", "dsn")]
    assert refused_at_rcpt(setup, recipient).startswith(
        "550 5.7.1 Recipient email address is suppressed"
    )


def test_the_delivery_named_by_the_verp_address_is_the_one_bounced(setup: Setup) -> None:
    # Two destinations: two transactions, each sent from a VERP address naming its delivery.
    named, other = "tom@elsewhere.example", "ann@example.org"
    queue_id = delivered_message(setup, other, named)
    [(delivery_id,)] = setup.gateway.sql("SELECT id FROM deliveries WHERE recipient = ?", named)
    # The report speaks of jane (a forward of tom's, say) and came back to tom's VERP address.
    report = report_from_sample("postfix_user_unknown.eml", setup, queue_id, other)
    send_report(setup, queue_id, report, delivery_id)
    wait_until(lambda: statuses(setup, queue_id) == {named: "bounced", other: "delivered"})


def test_an_arf_report_becomes_a_complaint_and_suppresses(setup: Setup) -> None:
    recipient = "kate.lee@yahoo.com"  # the sample's complainant
    queue_id = delivered_message(setup, recipient)
    send_report(setup, queue_id, report_from_sample("arf_yahoo.eml", setup, queue_id, recipient))

    wait_until(lambda: [k for k, _ in events(setup, queue_id, recipient)][-1] == "complained")
    _, data = events(setup, queue_id, recipient)[-1]
    assert (data["feedback_type"], data["source"]) == ("abuse", "fbl")
    assert statuses(setup, queue_id) == {recipient: "delivered"}  # it was delivered after all
    assert setup.gateway.sql("SELECT reason FROM suppressions WHERE address = ?", recipient) == [
        ("complaint",)
    ]
    assert refused_at_rcpt(setup, recipient).startswith("550 5.7.1")


def test_a_report_about_an_unknown_message_changes_nothing(setup: Setup) -> None:
    stranger = uuid.uuid4()
    before = setup.gateway.sql("SELECT count(*) FROM suppressions")
    send_report(
        setup, stranger, report_from_sample("postfix_user_unknown.eml", setup, stranger, "")
    )
    wait_until(lambda: f"about={stranger}" in setup.gateway.log())
    assert setup.gateway.sql("SELECT count(*) FROM suppressions") == before


def test_internal_bounce_register_records_with_powermtas_category(setup: Setup) -> None:
    recipient = "pmta@example.org"
    queue_id = delivered_message(setup, recipient)
    [(delivery_id,)] = setup.gateway.sql("SELECT id FROM deliveries WHERE recipient = ?", recipient)
    report = report_from_sample("postfix_user_unknown.eml", setup, queue_id, recipient)
    base = f"http://127.0.0.1:{setup.gateway.env['MAILGATE_HTTP_PORT']}"
    with httpx.Client(base_url=base, timeout=10) as client:
        wait_until(lambda: answering(client))
        answer = client.post(
            "/api.php",
            json={
                "Command": "internal.bounce.register",
                "EmailMessage": report.decode(),
                "MailFrom": f"b.{queue_id.hex}.{delivery_id}@{setup.sender.return_path}",
                "PowerMTABounceCategory": "inactive-mailbox",
            },
        )
        assert answer.json() == {"Success": True, "ErrorCode": 0, "ErrorText": ""}
        missing = client.post("/api.php", json={"Command": "internal.bounce.register"})
        assert missing.json()["Success"] is False
        unrelated = client.post(
            "/api.php",
            json={
                "Command": "internal.bounce.register",
                "EmailMessage": "Subject: hi\r\n\r\nhello",
            },
        )
        assert unrelated.json() == {
            "Success": False,
            "ErrorCode": 0,
            "ErrorText": "Bounce processing error",
        }
    assert statuses(setup, queue_id) == {recipient: "bounced"}
    kind, data = events(setup, queue_id, recipient)[-1]
    assert (kind, data["category"]) == ("bounced", "inactive-mailbox")
    assert setup.gateway.sql("SELECT reason FROM suppressions WHERE address = ?", recipient) == [
        ("inactive-mailbox",)
    ]
