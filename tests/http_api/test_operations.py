"""The HTTP side of `mailgate serve`, over a real socket with a real client: the operations
endpoints, and the inbound relay domain check that MX servers call."""

from __future__ import annotations

import signal
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, make_gateway, wait_until
from tests.http_api.conftest import answering, metric, serving

AUTH_FAILED = {"Errors": [{"Code": 1, "Message": "Authentication failed. Invalid admin API key."}]}


@dataclass
class Http:
    gateway: Gateway
    client: httpx.Client
    admin_key: str
    relay_domain: str


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    gateway = make_gateway(tmp_path_factory.mktemp("http"), MAILGATE_SMTP_PROCESSES="1")
    user_id = gateway.json("user", "add", "owner@http.test")["UserID"]
    domain = gateway.json("domain", "add", "http.test", "--user", str(user_id))
    admin_key = gateway.json("admin-key")["AdminAPIKey"]
    with serving(gateway) as client:
        yield Http(gateway, client, admin_key, domain["ReturnPathDomain"])


def test_health_and_readiness(http: Http) -> None:
    assert http.client.get("/healthz").json() == {"status": "ok"}
    ready = http.client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


@pytest.mark.parametrize("asked", ["{domain}", "{domain}.", "B.anything@{domain}", "{upper}"])
def test_relay_check_allows_the_return_path_domains(http: Http, asked: str) -> None:
    domain = http.relay_domain
    answer = http.client.get(
        "/api/v1/inbound-relay-domain-check",
        params={"domain": asked.format(domain=domain, upper=domain.upper())},
        headers={"Authorization": f"Bearer {http.admin_key}"},
    )
    assert (answer.status_code, answer.json()) == (200, {"Success": True, "RelayDomain": domain})


def test_relay_check_accepts_the_domain_in_the_body(http: Http) -> None:
    auth = {"Authorization": f"Bearer {http.admin_key}"}
    url = "/api/v1/inbound-relay-domain-check"
    as_json = http.client.post(url, json={"Domain": http.relay_domain}, headers=auth)
    as_form = http.client.post(url, data={"DOMAIN": http.relay_domain}, headers=auth)
    assert as_json.status_code == as_form.status_code == 200


@pytest.mark.parametrize("asked", ["http.test", "other.example", "bounces.other.example", ""])
def test_relay_check_denies_other_domains_with_500(http: Http, asked: str) -> None:
    answer = http.client.get(
        "/api/v1/inbound-relay-domain-check",
        params={"domain": asked},
        headers={"Authorization": f"Bearer {http.admin_key}"},
    )
    assert (answer.status_code, answer.json()) == (500, {})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic {key}"},
        {"Authorization": "Bearer"},
    ],
)
def test_relay_check_needs_the_admin_key(http: Http, headers: dict[str, str]) -> None:
    headers = {name: value.format(key=http.admin_key) for name, value in headers.items()}
    answer = http.client.get(
        "/api/v1/inbound-relay-domain-check",
        params={"domain": http.relay_domain},
        headers=headers,
    )
    assert (answer.status_code, answer.json()) == (403, AUTH_FAILED)


def test_a_user_key_is_not_the_admin_key(http: Http) -> None:
    user_key = http.gateway.json("user", "add", "second@http.test")["APIKey"]
    answer = http.client.get(
        "/api/v1/inbound-relay-domain-check",
        params={"domain": http.relay_domain},
        headers={"Authorization": f"Bearer {user_key}"},
    )
    assert answer.status_code == 403


def test_sender_domains_for_powermta(http: Http) -> None:
    user = http.gateway.json("user", "add", "pmta@http.test")["UserID"]
    added = http.gateway.json("domain", "add", "pmta.example", "--user", str(user))
    http.gateway.json("domain", "enable", str(added["DomainID"]))
    auth = {"Authorization": f"Bearer {http.admin_key}"}

    listed = http.client.post("/api/v1/sender.domains", json={}, headers=auth).json()
    assert listed == {"Success": True, "Domains": ["pmta.example"]}  # Enabled ones only
    relay = http.client.post(
        "/api/v1/sender.domains",
        json={"DomainsResponseFormat": "powermta-relay-domains"},
        headers=auth,
    )
    assert relay.headers["content-type"].startswith("text/plain")
    assert relay.text.splitlines() == [
        "relay-domain bounces.http.test",
        "relay-domain bounces.pmta.example",
    ]
    bounce = http.client.post(
        "/api/v1/sender.domains", data={"domainsresponseformat": "PowerMTA-Bounce-Domains"},
        headers=auth,
    )  # fmt: skip
    assert bounce.text.splitlines() == ["domain bounces.http.test", "domain bounces.pmta.example"]
    invalid = http.client.post(
        "/api/v1/sender.domains", json={"DomainsResponseFormat": "xml"}, headers=auth
    )
    assert invalid.json() == {
        "Success": False,
        "ErrorCode": 1,
        "ErrorText": "Invalid DomainsResponseFormat",
    }
    legacy = http.client.post(
        "/api.php", json={"Command": "sender.domains", "AdminAPIKey": http.admin_key}
    )
    assert legacy.json() == listed
    refused = http.client.post("/api.php", json={"Command": "sender.domains", "AdminAPIKey": "x"})
    assert refused.json()["ErrorCode"] == 99998
    keyless_legacy = http.client.post("/api.php", json={"Command": "sender.domains"})
    assert keyless_legacy.json()["ErrorCode"] == 99998  # 001: AdminAPIKey, on /api.php


def test_sender_domains_without_a_key_from_a_trusted_network(http: Http) -> None:
    """001's example sends no credential: from loopback (trusted by default) that is enough."""
    listed = http.client.post("/api/v1/sender.domains", json={"DomainsResponseFormat": "json"})
    assert listed.status_code == 200
    assert listed.json()["Success"] is True and "http.test" not in listed.json()["Domains"]
    relay = http.client.post(
        "/api/v1/sender.domains", data={"DomainsResponseFormat": "powermta-relay-domains"}
    )
    assert f"relay-domain {http.relay_domain}" in relay.text.splitlines()


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Authorization": "Bearer wrong"}, {}),
        ({"Authorization": "Bearer"}, {}),
        ({"Authorization": "Basic {key}"}, {}),
        ({}, {"AdminAPIKey": "wrong"}),
        ({"Authorization": "Bearer wrong"}, {"AdminAPIKey": "{key}"}),
    ],
)
def test_a_wrong_key_is_refused_even_from_a_trusted_network(
    http: Http, headers: dict[str, str], body: dict[str, str]
) -> None:
    headers = {name: value.format(key=http.admin_key) for name, value in headers.items()}
    body = {name: value.format(key=http.admin_key) for name, value in body.items()}
    answer = http.client.post("/api/v1/sender.domains", json=body, headers=headers)
    assert (answer.status_code, answer.json()) == (403, AUTH_FAILED)


def test_metrics_sum_every_process(http: Http) -> None:
    port = int(http.gateway.ports["smtp"])
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:  # an SMTP worker's counters
        smtp.ehlo()
        smtp.mail("someone@outside.example")
        assert smtp.rcpt("victim@elsewhere.example")[0] == 550  # no open relay
    for _ in range(3):
        http.client.get("/healthz")

    def scraped() -> str:
        text = http.client.get("/metrics").text
        return (
            text
            if metric(text, "mailgate_smtp_refusals_total", stage="rcpt", reason="relay_denied")
            else ""
        )

    text = wait_until(scraped)
    assert metric(text, "mailgate_smtp_sessions_total", role="mx") >= 1
    assert metric(text, "mailgate_http_requests_total", route="/healthz", status="200") >= 3
    assert 'mailgate_queue_recipients{status="queued"} 0' in text
    assert 'mailgate_queue_recipients{status="deferred"} 0' in text


def test_outside_the_trusted_networks_a_key_is_needed(gateway_factory: Any) -> None:
    """internal.* are refused; sender.domains wants the admin key, as from anywhere else."""
    gateway = gateway_factory(MAILGATE_SMTP_PROCESSES="1", MAILGATE_TRUSTED_NETWORKS="10.9.0.0/16")
    admin_key = gateway.json("admin-key")["AdminAPIKey"]
    with serving(gateway) as client:
        answer = client.post(
            "/api.php", json={"Command": "internal.bounce.register", "EmailMessage": "x"}
        )
        keyless = client.post("/api/v1/sender.domains", json={})
        with_key = client.post(
            "/api/v1/sender.domains", json={}, headers={"Authorization": f"Bearer {admin_key}"}
        )
    assert answer.status_code == 403
    assert answer.json() == {
        "Success": False,
        "ErrorCode": 99999,
        "ErrorText": "Not enough privileges",
    }
    assert (keyless.status_code, keyless.json()) == (403, AUTH_FAILED)
    assert (with_key.status_code, with_key.json()) == (200, {"Success": True, "Domains": []})


def test_zz_http_stops_cleanly_with_the_gateway(http: Http) -> None:
    assert http.gateway.stop(signal.SIGTERM) == 0
    assert http.gateway.log().rstrip().endswith("stopped")  # the supervisor's last word
    assert not answering(http.client)
