"""What an operator greps on the HTTP side: an error answer's access-log line names the error
code the answer carries (/api.php's ErrorCode, /api/v1's and /rest's codes), and /metrics tells
how long the oldest due recipient has waited and how many SMTP AUTH attempts failed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import Gateway, make_gateway
from tests.http_api.conftest import log_line, metric, scrape, serving
from tests.mta.conftest import Sender, add_sender
from tests.mta.support import expect, logged_in, message, queued_id, send, smtp_auth, submission


@dataclass
class Setup:
    gateway: Gateway
    client: httpx.Client
    sender: Sender


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    gateway = make_gateway(tmp_path_factory.mktemp("access"), MAILGATE_SMTP_PROCESSES="1")
    user_id = gateway.json("user", "add", "owner@access.test")["UserID"]
    sender = add_sender(gateway, user_id, "access.test")
    with serving(gateway) as client:
        yield Setup(gateway, client, sender)


def access_line(setup: Setup, path: str, status: int, *parts: str) -> str:
    return log_line(setup.gateway, f"http method=POST path={path} status={status} ", *parts)


def test_api_php_errors_name_their_error_code(setup: Setup) -> None:
    unknown = setup.client.post("/api.php", json={"Command": "no.such.command"})
    assert (unknown.status_code, unknown.json()["ErrorCode"]) == (400, 99997)
    assert access_line(setup, "/api.php", 400, "error=99997")
    # A command's own failure answers 200, as the API documents; its line names the code too.
    key = setup.gateway.json("user", "add", "keyed@access.test")["APIKey"]
    failed = setup.client.post(
        "/api.php", json={"Command": "emailgateway.getevents", "APIKey": key}
    ).json()
    assert failed["Success"] is False
    line = access_line(setup, "/api.php", 200, "command=emailgateway.getevents", "error=")
    assert line.endswith(f" error={failed['ErrorCode']}")


def test_api_v1_and_rest_errors_name_their_error_code(setup: Setup) -> None:
    v1 = setup.client.post("/api/v1/events", json={})
    assert v1.status_code == 401
    v1_line = access_line(setup, "/api/v1/events", 401)
    assert v1_line.endswith(f" error={v1.json()['Errors'][0]['Code']}")
    rest = setup.client.post("/rest/ping", json={})
    assert (rest.status_code, rest.json()["errors"][0]["code"]) == (401, 1000)
    assert access_line(setup, "/rest/ping", 401).endswith(" error=1000")
    relay = setup.client.post("/api/v1/inbound-relay-domain-check", json={"Domain": "x.test"})
    assert relay.status_code == 403
    assert access_line(setup, "/api/v1/inbound-relay-domain-check", 403).endswith(" error=1")


def test_a_success_line_names_no_error(setup: Setup) -> None:
    assert setup.client.get("/healthz").status_code == 200
    line = log_line(setup.gateway, "http method=GET path=/healthz status=200")
    assert "error=" not in line


def test_smtp_auth_failures_are_counted_from_zero(setup: Setup) -> None:
    sender = setup.sender
    assert "\nmailgate_smtp_auth_failures_total 0.0\n" in scrape(setup.gateway)
    with submission(setup.gateway.ports["submission"]) as smtp:
        expect(smtp_auth(smtp, "PLAIN", sender.username, "not-the-password"), "535 5.7.8")
    assert metric(scrape(setup.gateway), "mailgate_smtp_auth_failures_total") == 1


def _sqlite_time(moment: datetime) -> str:
    """A time as SQLAlchemy stores it in SQLite (naive UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def test_oldest_due_age_is_how_long_the_oldest_due_recipient_waits(setup: Setup) -> None:
    def oldest_due() -> float:
        return metric(scrape(setup.gateway), "mailgate_queue_oldest_due_seconds")

    sender, gateway = setup.sender, setup.gateway
    assert gateway.sql("SELECT count(*) FROM deliveries") == [(0,)]
    assert oldest_due() == 0  # an empty queue
    with logged_in(gateway.ports["submission"], sender.username, sender.password) as smtp:
        queue_id = queued_id(send(smtp, sender.address, message(sender.address)))
    later = _sqlite_time(datetime.now(UTC) + timedelta(hours=1))
    gateway.sql(
        "UPDATE deliveries SET status = 'deferred', next_attempt_at = ? WHERE message_id = ?",
        later, queue_id.hex,
    )  # fmt: skip
    assert oldest_due() == 0  # deferred, but not due yet
    earlier = _sqlite_time(datetime.now(UTC) - timedelta(seconds=120))
    gateway.sql(
        "UPDATE deliveries SET next_attempt_at = ? WHERE message_id = ?", earlier, queue_id.hex
    )
    assert 120 <= oldest_due() < 180  # due two minutes ago


def test_keys_in_the_query_string_never_reach_the_log(setup: Setup) -> None:
    # The documents allow keys as query parameters; uvicorn's own access line would print the
    # query string whole, so only our line (path without the query) may be written.
    secret = "mg_querysecret0123456789"
    answer = setup.client.post(f"/api.php?APIKey={secret}&Command=emailgateway.getdomains")
    assert answer.json()["Success"] is False
    assert access_line(setup, "/api.php", 200, "command=emailgateway.getdomains")
    assert secret not in setup.gateway.log()
