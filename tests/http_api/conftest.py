"""Shared by the HTTP tests: one running gateway per test module, a real HTTP client on its
HTTP port, and a user (plus a second one) with API keys."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, make_gateway, wait_until


def answering(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def serving(gateway: Gateway) -> Iterator[httpx.Client]:
    """Start `gateway` and yield a client of its HTTP port once it answers; stop it after."""
    gateway.start()
    base = f"http://127.0.0.1:{gateway.env['MAILGATE_HTTP_PORT']}"
    with httpx.Client(base_url=base, timeout=10) as client:
        wait_until(lambda: answering(client))
        try:
            yield client
        finally:
            if gateway.process is not None:
                gateway.stop()


@dataclass
class Api:
    gateway: Gateway
    client: httpx.Client
    key: str
    other_key: str
    user_id: int

    def call(self, command: str, key: str | None = None, **params: Any) -> dict[str, Any]:
        body = {"Command": command, "APIKey": self.key if key is None else key, **params}
        answer = self.client.post("/api.php", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    gateway = make_gateway(tmp_path_factory.mktemp("api"), MAILGATE_SMTP_PROCESSES="1")
    owner = gateway.json("user", "add", "owner@api.test")
    other = gateway.json("user", "add", "other@api.test")
    with serving(gateway) as client:
        yield Api(gateway, client, owner["APIKey"], other["APIKey"], owner["UserID"])


def db(api: Api) -> sqlite3.Connection:
    return sqlite3.connect(api.gateway.data_dir / "mailgate.db", timeout=30)
