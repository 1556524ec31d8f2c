"""Shared by the HTTP tests: one running gateway per test module, a real HTTP client on its
HTTP port, and a user (plus a second one) with API keys."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Gateway, make_gateway, wait_until
from tests.store_sql import StoreConnection

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` in the Prometheus text format whose labels include
    `labels` (0 when there is none)."""
    total = 0.0
    for line in text.splitlines():
        sample = _SAMPLE.match(line)
        if sample is None or sample[1] != name:
            continue
        if labels.items() <= dict(_LABEL.findall(sample[2] or "")).items():
            total += float(sample[3])
    return total


def scrape(gateway: Gateway) -> str:
    """The running gateway's /metrics."""
    url = f"http://127.0.0.1:{gateway.env['MAILGATE_HTTP_PORT']}/metrics"
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text


def log_line(gateway: Gateway, *parts: str) -> str:
    """The gateway's first log line holding every one of `parts` (waiting for it)."""

    def found() -> str | None:
        lines = gateway.log().splitlines()
        return next((line for line in lines if all(part in line for part in parts)), None)

    line: str = wait_until(found)
    return line


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


def fetch_tracking_url(
    client: httpx.Client, url: str, method: str = "GET", **options: Any
) -> httpx.Response:
    """A tracking URL, asked of the gateway as its tracking host would (routed by path)."""
    parts = urlsplit(url)
    headers = {"Host": parts.netloc, "User-Agent": "TestMail/1.0", **options.pop("headers", {})}
    return client.request(method, parts.path, headers=headers, **options)


@dataclass
class RestClient:
    """A client of the signed /rest API written from 003's text alone (not Mailgate's code):
    X-Rest-ApiSign = sha1(ApiKey + access path + body + ApiSecret), hex."""

    client: httpx.Client
    key: str
    secret: str

    def sign(self, path: str, body: bytes) -> str:
        return hashlib.sha1((self.key + path).encode() + body + self.secret.encode()).hexdigest()

    def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> httpx.Response:
        headers = {
            "X-Rest-ApiKey": self.key,
            "X-Rest-ApiSign": self.sign(path, body),
            "Content-Type": content_type,
        }
        return self.client.request(method, path, content=body, headers=headers)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, data: Any = None) -> httpx.Response:
        """POST `data` as JSON (the document's second scheme)."""
        body = b"" if data is None else json.dumps(data).encode()
        return self.request("POST", path, body)

    def post_form(self, path: str, pairs: list[tuple[str, str]]) -> httpx.Response:
        """POST URL-encoded data (the first scheme), names as PHP clients write them."""
        body = urllib.parse.urlencode(pairs).encode()
        return self.request("POST", path, body, "application/x-www-form-urlencoded")

    def ok(self, path: str, data: Any = None) -> Any:
        """The `data` of a successful POST (or GET when `data` is None and the path wants it)."""
        answer = self.post(path, data)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "OK", body
        return body["data"]

    def error(self, path: str, data: Any = None, method: str = "POST") -> tuple[int, list[int]]:
        """The HTTP status and the error codes of a refused request."""
        body = b"" if data is None else json.dumps(data).encode()
        answer = self.request(method, path, body)
        parsed = answer.json()
        assert parsed["status"] == "ERROR", parsed
        return answer.status_code, [error["code"] for error in parsed["errors"]]


@dataclass
class Api:
    gateway: Gateway
    client: httpx.Client
    key: str
    other_key: str
    user_id: int
    rest: RestClient
    other_rest: RestClient
    other_user_id: int

    @classmethod
    def of(
        cls, gateway: Gateway, client: httpx.Client, owner: dict[str, Any], other: dict[str, Any]
    ) -> Api:
        """From what `mailgate user add` printed for the owner and the other user."""
        return cls(
            gateway,
            client,
            owner["APIKey"],
            other["APIKey"],
            int(owner["UserID"]),
            RestClient(client, owner["RestApiKey"], owner["RestApiSecret"]),
            RestClient(client, other["RestApiKey"], other["RestApiSecret"]),
            int(other["UserID"]),
        )

    def call(self, command: str, key: str | None = None, **params: Any) -> dict[str, Any]:
        body = {"Command": command, "APIKey": self.key if key is None else key, **params}
        answer = self.client.post("/api.php", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def domain_with_key(self, name: str) -> tuple[int, str]:
        """A new sender domain of the owner, and a sender API key of it (not yet enabled)."""
        domain_id = int(self.call("emailgateway.adddomain", DomainName=name)["NewSenderDomainID"])
        added = self.call("emailgateway.addapi", Description=name, DomainID=domain_id)
        return domain_id, str(added["APIKey"]["APIKey"])


@contextlib.contextmanager
def running_api(
    data_dir: Path, domain: str = "api.test", store: str = "", **env: str
) -> Iterator[Api]:
    """A running gateway with `env` (its store as make_gateway's `store`), and two accounts
    (owner@ and other@ `domain`) made by `mailgate user add`."""
    gateway = make_gateway(data_dir, store=store, MAILGATE_SMTP_PROCESSES="1", **env)
    owner = gateway.json("user", "add", f"owner@{domain}")
    other = gateway.json("user", "add", f"other@{domain}")
    with serving(gateway) as client:
        yield Api.of(gateway, client, owner, other)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("api")) as api:
        yield api


@pytest.fixture(scope="module")
def sender_key(api: Api) -> str:
    """The API key of a sender domain of the owner's, made once for the module."""
    return api.domain_with_key("sender.test")[1]


def db(api: Api) -> StoreConnection:
    """The gateway's store, SQLite or PostgreSQL, as a sqlite3-like connection."""
    return StoreConnection(api.gateway.database_url)
