"""/api.php's registry and catch-all, in process: a command name registered twice stops the
import, and whatever a handler raises is logged with its traceback and answered with the
family's envelope and HTTP 500, never with the exception's text. (A command that anyone may
call, asked without a key, touches no table: the app needs no schema.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

import http_api.commands  # noqa: F401 - importing registers the commands
from http_api import api_php
from http_api.api_php import COMMANDS, Access, Call, DuplicateCommand, command
from http_api.context import AppContext
from http_api.rate_limit import RateLimiter
from http_api.v1_auth import KeyCache
from mailgate.config import load_settings
from mailgate.http_wiring import http_settings
from mta.sms.transport import NoTransport
from mta.submission.submit import Gateway
from storage.engine import Database
from storage.queue import QueueWriter

FAILING = "test.fails"
SECRET = "the-exception-text-stays-in-the-log"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    @command(FAILING, Access.ANYONE)
    async def fails(call: Call) -> dict[str, Any]:
        raise RuntimeError(SECRET)

    app = Starlette(routes=[Route("/api.php", api_php.endpoint, methods=["POST"])])
    settings = load_settings({"MAILGATE_DATA_DIR": str(tmp_path)})
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    app.state.context = AppContext(  # the wiring create_app's lifespan would attach, unstarted
        settings=http_settings(settings),
        db=db,
        keys=KeyCache(db),
        rate_limiter=RateLimiter(*settings.api_rate_limit, db),
        gateway=Gateway.configured(db, QueueWriter(db), settings),
        sms_transport=NoTransport(),
        supervisor_failures=list,
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
    finally:
        del COMMANDS[FAILING]
        await db.dispose()


def test_a_command_registered_twice_stops_the_import() -> None:
    existing = COMMANDS["emailgateway.getdomains"]
    with pytest.raises(DuplicateCommand, match=r"EmailGateway\.GetDomains"):

        @command("EmailGateway.GetDomains")
        async def again(call: Call) -> dict[str, Any]:
            return {}

    assert COMMANDS["emailgateway.getdomains"] is existing


async def test_a_handler_that_raises_is_a_logged_500_in_the_envelope(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await client.post("/api.php", json={"Command": FAILING})
    assert answer.status_code == 500
    assert answer.json() == {
        "Success": False,
        "ErrorCode": 99995,
        "ErrorText": "Internal server error",
    }
    [record] = [r for r in caplog.records if r.name == "mailgate.api"]
    assert f"command={FAILING}" in record.getMessage()
    assert record.exc_info is not None and SECRET in str(record.exc_info[1])
