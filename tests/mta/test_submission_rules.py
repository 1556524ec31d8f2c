"""`submit` enforces every rule about a message itself, whichever surface calls it: size,
recipients (an address, their count, suppression), the envelope sender, on a real database
(SQLite and PostgreSQL). The surfaces' answers to these refusals are tested over their own
sockets (tests/http_api/test_api_relay.py, test_api_email.py, test_rest_mail.py)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from mta.replies import Reason
from mta.submission.submit import (
    Gateway,
    Origin,
    SubmissionRefused,
    screen,
    sender_for_domain,
    submit,
)
from storage.accounts import create_user
from storage.domains import SenderContext, add_domain, set_domain_status
from storage.engine import Database
from storage.models import DomainStatus, Message
from storage.queue import QueueWriter
from storage.suppressions import add_suppression

DOMAIN = "rules.test"
MAX_SIZE = 2_000
MAX_RECIPIENTS = 3
ORIGIN = Origin(helo="test", client_ip="127.0.0.1", protocol="HTTP")


@dataclass
class Setup:
    db: Database
    gw: Gateway
    sender: SenderContext

    async def submit(self, recipients: list[str], content: bytes, mail_from: str = "") -> uuid.UUID:
        return await submit(
            self.gw, self.sender, mail_from or f"app@{DOMAIN}", recipients, content, ORIGIN, "test"
        )

    async def refusal(self, recipients: list[str], content: bytes, mail_from: str = "") -> Reason:
        """The reason `submit` refuses for; nothing may be queued."""
        before = await self.messages()
        with pytest.raises(SubmissionRefused) as refused:
            await self.submit(recipients, content, mail_from)
        assert await self.messages() == before
        return refused.value.reason

    async def messages(self) -> int:
        return int(await self.db.scalar(select(func.count()).select_from(Message)) or 0)


@pytest.fixture
async def setup(db: Database) -> AsyncIterator[Setup]:
    user = await create_user(db, f"owner-{secrets.token_hex(4)}@{DOMAIN}")
    domain = await add_domain(db, user.user_id, DOMAIN, "bounces")
    await set_domain_status(db, domain.id, DomainStatus.ENABLED)
    writer = QueueWriter(db)
    writer.start()
    gw = Gateway(
        db, writer, "mx.mailgate.test", 30, max_message_size=MAX_SIZE,
        max_recipients=MAX_RECIPIENTS,
    )  # fmt: skip
    sender = await sender_for_domain(gw, domain.id)
    assert sender is not None
    try:
        yield Setup(db, gw, sender)
    finally:
        await writer.close()


def message(body: str = "Hello.") -> bytes:
    return f"From: app@{DOMAIN}\r\nSubject: rules\r\n\r\n{body}\r\n".encode()


# (recipients, envelope sender, body) that break one rule each, and the reason submit gives.
BROKEN = [
    ([f"r{n}@example.org" for n in range(MAX_RECIPIENTS + 1)], "", "", Reason.RECIPIENTS),
    ([], "", "", Reason.NO_RECIPIENTS),
    (["not an address"], "", "", Reason.RECIPIENT_SYNTAX),
    (["nul\x00@example.org"], "", "", Reason.RECIPIENT_SYNTAX),
    ([f"{'x' * 250}@example.org"], "", "", Reason.RECIPIENT_SYNTAX),
    (["a@example.org"], "app@elsewhere.example", "", Reason.SENDER_ADDRESS),
    (["a@example.org"], "junk", "", Reason.SENDER_SYNTAX),
    (["a@example.org"], "", "x" * MAX_SIZE, Reason.SIZE),
]


async def test_submit_refuses_what_breaks_a_rule_and_queues_nothing(setup: Setup) -> None:
    """One database for all the cases: the checks are the same on both, the setup is not
    cheap."""
    for recipients, mail_from, body, reason in BROKEN:
        refused = await setup.refusal(recipients, message(body or "Hello."), mail_from)
        assert refused is reason, (recipients, mail_from, len(body))


async def test_a_suppressed_recipient_refuses_the_message_or_is_set_aside(setup: Setup) -> None:
    blocked = "blocked@example.org"
    await add_suppression(setup.db, blocked, "hard bounce", "test", setup.sender.user_id)
    assert await setup.refusal([blocked, "fine@example.org"], message()) is Reason.SUPPRESSED

    screened = await screen(setup.gw, setup.sender, [blocked, "fine@example.org"])
    assert (screened.accepted, screened.suppressed) == (["fine@example.org"], [blocked])
    queue_id = await submit(
        setup.gw, setup.sender, f"app@{DOMAIN}", screened, message(), ORIGIN, "test"
    )
    assert await setup.db.scalar(select(Message.recipient_count).where(Message.id == queue_id)) == 1
    with pytest.raises(SubmissionRefused) as refused:
        await screen(setup.gw, setup.sender, [blocked])
    assert refused.value.reason is Reason.SUPPRESSED

    full = [f"r{n}@example.org" for n in range(MAX_RECIPIENTS)]  # at the limits: queued
    at_limit = message("x" * (MAX_SIZE - len(message(""))))
    assert len(at_limit) == MAX_SIZE
    queue_id = await setup.submit(full, at_limit)
    assert await setup.db.scalar(select(Message.recipient_count).where(Message.id == queue_id)) == 3
