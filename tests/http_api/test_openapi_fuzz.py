"""Schemathesis against a live `mailgate serve`, held to the app's own /openapi.json: every
operation is called with generated input (valid and invalid), authenticated as a real account,
and fails on a 5xx the description does not document, an answer whose status, content type or
body does not match its description, or a request that takes over 5 s.

The gateway's log holds the traceback of any server error (`Gateway.log()`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from http_api.openapi.document import document
from mailgate.config import load_settings
from mailgate.http_wiring import http_app
from tests.conftest import make_gateway
from tests.http_api.conftest import serving

EXAMPLES = 2  # generated per operation and mode, besides the boundary cases: ~90 operations
SLOW = 5.0  # seconds: a request slower than this fails
# Operations whose every call verifies or makes an argon2 hash (~0.5 s of CPU by design):
# their generated examples only, without the boundary cases the other operations also get.
ARGON2 = {
    "api.php:emailgateway.smtprelay",
    "api.php:user.login",
    "api.php:emailgateway.resetsmtppassword",
    "api.php:emailgateway.addsmtp",
}
ADMIN_ROUTES = ("/api/v1/inbound-relay-domain-check", "/api/v1/sender.domains")


@dataclass
class Credentials(requests.auth.AuthBase):
    """A real account's keys, put on each request where its surface reads them: `APIKey` and
    `AdminAPIKey` for /api.php, a Bearer key for /api/v1, the signed headers for /rest."""

    api_key: str
    admin_key: str
    sender_key: str
    rest_key: str
    rest_secret: str
    sent: list[str] = field(default_factory=list)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = urlsplit(request.url or "").path
        self.sent.append(path)
        if path == "/api.php":
            request.prepare_url(
                request.url, {"APIKey": self.api_key, "AdminAPIKey": self.admin_key}
            )
        elif path.startswith("/api/v1/"):
            key = self.admin_key if path in ADMIN_ROUTES else self.sender_key
            request.headers["Authorization"] = f"Bearer {key}"
        elif path.startswith("/rest/"):
            body = request.body or b""
            raw = body.encode() if isinstance(body, str) else body
            signed = (self.rest_key + request.path_url).encode() + raw + self.rest_secret.encode()
            request.headers["X-Rest-ApiKey"] = self.rest_key
            request.headers["X-Rest-ApiSign"] = hashlib.sha1(signed).hexdigest()
        return request


@dataclass
class Target:
    base_url: str
    session: requests.Session
    credentials: Credentials
    log: Any


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    gateway = make_gateway(
        tmp_path_factory.mktemp("fuzz"), MAILGATE_SMTP_PROCESSES="1", MAILGATE_API_RATE_LIMIT="0"
    )
    owner = gateway.json("user", "add", "owner@fuzz.test")
    admin_key = gateway.json("admin-key")["AdminAPIKey"]
    with serving(gateway) as client:
        call = {"Command": "emailgateway.adddomain", "APIKey": owner["APIKey"]}
        added = client.post("/api.php", json={**call, "DomainName": "fuzz.test"}).json()
        domain_id = added["NewSenderDomainID"]
        call |= {"Command": "emailgateway.addapi", "DomainID": domain_id, "Description": "fuzz"}
        sender_key = client.post("/api.php", json=call).json()["APIKey"]["APIKey"]
        credentials = Credentials(
            owner["APIKey"], admin_key, sender_key, owner["RestApiKey"], owner["RestApiSecret"]
        )
        with requests.Session() as session:
            session.auth = credentials
            yield Target(str(client.base_url).rstrip("/"), session, credentials, gateway.log)
        print(f"\nschemathesis: {len(credentials.sent)} requests")


def within_time(ctx: Any, response: Any, case: Any) -> bool | None:
    assert response.elapsed <= SLOW, f"{case.operation.label} took {response.elapsed:.1f} s"
    return None


def no_undocumented_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 5xx fails unless the operation documents that very status (001's relay check answers
    500 {} for "relay denied")."""
    if response.status_code >= 500 and str(
        response.status_code
    ) not in case.operation.definition.raw.get("responses", {}):
        return not_a_server_error(ctx, response, case)
    return None


CHECKS = [
    no_undocumented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    within_time,
]


def description() -> dict[str, Any]:
    """The app's description, built in-process so the operations are known at collection
    (tests/http_api/test_openapi.py holds the served document to the same)."""
    settings = load_settings({"MAILGATE_DATA_DIR": "/nonexistent"}, config_may_be_missing=True)
    return document(http_app(settings).routes)


schema = schemathesis.openapi.from_dict(description())
schema.config.generation.update(
    max_examples=EXAMPLES, with_security_parameters=False, deterministic=True, database="none"
)
# Methods no route has (PUT, TRACE, ...) answer Starlette's 405, for every path: ~450 requests
# that test the framework, not us.
schema.config.phases.coverage.unexpected_methods = set()


def answers_as_described(case: Any, target: Target) -> None:
    case.call_and_validate(base_url=target.base_url, session=target.session, checks=CHECKS)


@schema.exclude(operation_id=list(ARGON2)).parametrize()
@settings(
    deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck)
)
def test_every_operation_answers_as_described(case: Any, target: Target) -> None:
    answers_as_described(case, target)


@schema.include(operation_id=list(ARGON2)).parametrize()
@settings(
    deadline=None, max_examples=3, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
)
def test_password_checking_operations_answer_as_described(case: Any, target: Target) -> None:
    answers_as_described(case, target)
