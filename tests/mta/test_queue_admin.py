"""The operator's queue commands against a running gateway: counts, explain, retry now, delete,
and clearing a sender domain's queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from storage.engine import Database
from storage.queue_admin import clear_domain_queue
from tests.conftest import wait_until
from tests.mta.sink import Sink
from tests.mta.test_delivery import Setup, events, settled, start_setup, statuses, submit


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with Sink() as sink:
        running = start_setup(
            tmp_path_factory.mktemp("queue"),
            sink,
            "queue.test",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_RETRY_SCHEDULE="1h",  # deferred mail stays deferred unless retried
        )
        try:
            yield running
        finally:
            running.gateway.stop()


def test_deferred_mail_is_counted_explained_retried_and_deleted(setup: Setup) -> None:
    recipient = "busy-q@slow.example"
    queue_id = submit(setup, [recipient])
    settled(setup, queue_id, {recipient: "deferred"})

    summary = setup.gateway.json("queue")
    assert {"Domain": "slow.example", "Status": "deferred", "Count": 1} in summary

    [explained] = setup.gateway.json("queue", "explain", str(queue_id))
    assert explained["Recipient"] == recipient
    assert (explained["Status"], explained["Attempts"]) == ("deferred", 1)
    assert explained["LastReply"] == "451 4.3.0 Try again later"
    assert explained["LastHost"] == "127.0.0.1"
    assert explained["Why"].startswith("deferred after 1 attempt(s); next attempt in ")
    assert "last reply from 127.0.0.1: 451 4.3.0 Try again later" in explained["Why"]
    by_number = setup.gateway.json("queue", "explain", str(explained["DeliveryID"]))
    assert by_number == [explained | {"Why": by_number[0]["Why"]}]

    assert setup.gateway.json("queue", "retry", "--domain", "slow.example") == {"Retried": 1}
    wait_until(lambda: setup.sink.handler.offered[recipient] == 2)
    wait_until(lambda: [k for k, _ in events(setup, queue_id, recipient)].count("deferred") == 2)

    removed = setup.gateway.json("queue", "delete", "--recipient", recipient, "--reason", "test")
    assert removed == {"Removed": 1}
    assert statuses(setup, queue_id) == {recipient: "failed"}
    kind, data = events(setup, queue_id, recipient)[-1]
    assert kind == "failed"
    assert data["reply"] == "removed from the queue by an operator: test"
    [explained] = setup.gateway.json("queue", "explain", str(queue_id))
    assert explained["Why"].startswith("failed (removed from the queue)")


def test_explain_and_delete_refuse_unclear_requests(setup: Setup) -> None:
    missing = setup.gateway.cli("queue", "explain", "no-such-id", check=False)
    assert missing.returncode == 1 and "no message or delivery 'no-such-id'" in missing.stderr
    unnamed = setup.gateway.cli("queue", "delete", check=False)
    assert unnamed.returncode == 1 and "name what to delete" in unnamed.stderr
    bad = setup.gateway.cli("queue", "retry", "--message", "not-a-uuid", check=False)
    assert bad.returncode == 2 and "invalid UUID value" in bad.stderr


def test_clearing_a_sender_domain_queue_fails_its_pending_mail(setup: Setup) -> None:
    pending = ["busy-c@slow.example", "busy-d@slow.example"]
    queue_id = submit(setup, pending)
    settled(setup, queue_id, dict.fromkeys(pending, "deferred"))

    async def clear() -> int:
        db = Database(setup.gateway.database_url)
        try:
            return await clear_domain_queue(db, setup.sender.domain_id)
        finally:
            await db.dispose()

    assert asyncio.run(clear()) == 2
    assert statuses(setup, queue_id) == dict.fromkeys(pending, "failed")
    for recipient in pending:
        kind, data = events(setup, queue_id, recipient)[-1]
        assert (kind, data["reply"]) == ("failed", "queue cleared for the sender domain")
