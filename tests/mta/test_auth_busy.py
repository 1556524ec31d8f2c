"""An AUTH that finds this process's verifications all taken (running and waiting) is answered
454 4.7.0 at once, a temporary failure the client retries, and is not counted against its
address. The SMTP server runs in this process on a real socket, with a verifier of one slot and
no queue, so that two concurrent AUTHs are enough to show it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import aiosmtplib
import pytest

from mta.smtp.auth_throttle import AuthThrottle
from mta.smtp.server import Role, SmtpOptions, SubmissionHandler, protocol_factory
from mta.submission.submit import Gateway
from storage import accounts, credentials, domains
from storage.credentials import NewCredential
from storage.engine import Database
from storage.password_checks import PasswordChecks
from storage.queue import QueueWriter


@pytest.fixture
async def one_slot(db: Database) -> AsyncIterator[tuple[int, NewCredential, AuthThrottle]]:
    """A submission listener on a free loopback port whose verifier has room for one."""
    user = await accounts.create_user(db, "owner@example.com")
    domain = await domains.add_domain(db, user.user_id, "example.com", "bounces")
    credential = await credentials.add_credential(db, domain.id)
    throttle = AuthThrottle(
        db, limit=2, lockout=600, delay_step=0, checks=PasswordChecks(concurrency=1, max_waiting=0)
    )
    options = SmtpOptions(
        hostname="mx.test", timeout=30, relay_networks=(), allow_plaintext_auth_on_loopback=True
    )
    handler = SubmissionHandler(Gateway(db, QueueWriter(db), "mx.test", 5), options, throttle)
    factory = protocol_factory(handler, Role.SUBMISSION, None, set())
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], credential, throttle
    finally:
        server.close()
        await server.wait_closed()


async def auth_reply(port: int, username: str, password: str) -> str:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as smtp:
        await smtp.ehlo()
        reply = await smtp.execute_command(b"AUTH", b"PLAIN", plain(username, password))
        return f"{reply.code} {reply.message}"


def plain(username: str, password: str) -> bytes:
    return base64.b64encode(f"\0{username}\0{password}".encode())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not the point
async def test_an_auth_beyond_the_verifications_is_454_and_not_counted(
    one_slot: tuple[int, NewCredential, AuthThrottle],
) -> None:
    port, credential, throttle = one_slot
    replies = await asyncio.gather(
        auth_reply(port, credential.username, "first wrong guess"),
        auth_reply(port, credential.username, "second wrong guess"),
    )
    assert sorted(reply[:9] for reply in replies) == ["454 4.7.0", "535 5.7.8"]
    assert not await throttle.is_locked("127.0.0.1")  # limit 2: only the 535 counted
    assert (await auth_reply(port, credential.username, credential.password))[:3] == "235"
