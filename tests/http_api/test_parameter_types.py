"""Issue 14: no parameter of any JSON type gives a 5xx, on any surface. For every /api.php
command, every /rest action and every /api/v1 route that the OpenAPI description names, each
documented parameter is sent as each JSON type (null, a boolean, a float, a negative, 2**63-1,
arrays, objects, blank, 10,000 characters, a NUL) by a real account with valid credentials,
the other parameters set to plausible values so that the handler reads them all. The list of
operations and parameters is read from the description (http_api/openapi), which
tests/http_api/test_openapi.py holds to the registries.

One gateway, the requests on a small thread pool: about 4,000 requests in well under a minute.
The commands that verify an argon2 hash on each call (~0.5 s of CPU by design) get each type
once per parameter name rather than each value."""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from http_api import api_php
from http_api.openapi.document import document
from http_api.params import scalar_text
from http_api.rest import protocol as rest_protocol
from mailgate.config import load_settings
from mailgate.http_wiring import http_app
from tests.conftest import BACKENDS, free_port, postgres_database
from tests.http_api.conftest import Api, running_api

DOMAIN = "types.test"
ODD_VALUES: list[Any] = [
    None,
    True,
    1.5,
    -1,
    2**63 - 1,
    [],
    [1],
    {},
    {"a": 1},
    "",
    "x" * 10_000,
    "a\u0000b",
]
# One value of each JSON type, for the commands below.
ONE_OF_EACH_TYPE: list[Any] = [None, True, 1.5, [1], {"a": 1}, "a\u0000b"]
ARGON2 = {
    "emailgateway.smtprelay",
    "user.login",
    "emailgateway.resetsmtppassword",
    "emailgateway.addsmtp",
}
THREADS = 6


def description() -> dict[str, Any]:
    settings = load_settings({"MAILGATE_DATA_DIR": "/nonexistent"}, config_may_be_missing=True)
    return document(http_app(settings).routes)


DOCUMENT = description()


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return resolved(schema[key][0])
    return schema


def plausible(schema: dict[str, Any], ids: dict[str, Any], name: str) -> Any:
    """A value of `schema` a client would send, so that the parameter under test is reached:
    the setup's own ids where a parameter names one."""
    schema = resolved(schema)
    if name.lower() in ids:
        return ids[name.lower()]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        item = plausible(schema.get("items", {}), ids, "")
        return [item] * max(int(schema.get("minItems", 0)), 1)
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: plausible(value, ids, key) for key, value in properties.items()}
    if schema.get("format") == "email":
        return f"someone@{DOMAIN}"
    pattern = str(schema.get("pattern", ""))
    if pattern.startswith("^https?"):
        return "https://example.com/page"
    if "YYYY" in str(schema.get("description", "")):
        return "2030-01-01"
    if "HH:MM" in str(schema.get("description", "")):
        return "10:00"
    return "abc1" if pattern else "text"


@dataclass(frozen=True)
class Case:
    """One operation: how to send it and its parameters' plausible values."""

    label: str
    method: str
    path: str  # /api.php, /api/v1/..., or a /rest path with its path parameters filled
    surface: str
    base: dict[str, Any]
    names: tuple[str, ...]  # the body parameters under test
    path_names: tuple[str, ...] = ()  # the path's parameters under test (text only)
    path_template: str = ""


def _body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    for media in content.values():
        return resolved(media["schema"])
    return {}


_PATH_PARAM = re.compile(r"\{(\w+)\}")


def cases(ids: dict[str, Any]) -> list[Case]:
    found = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            schema = _body_schema(operation)
            properties = schema.get("properties", {})
            query = {
                p["name"]: p["schema"]
                for p in operation.get("parameters", [])
                if p.get("in") == "query"
            }
            every = {**query, **properties}
            base = {name: plausible(value, ids, name) for name, value in every.items()}
            names = tuple(name for name in every if name != "Command")
            if path.startswith("/api.php#"):
                surface, sent_path = "/api.php", "/api.php"
            elif path.startswith("/rest/"):
                surface, sent_path = "/rest", path
            else:
                surface, sent_path = "/api/v1", path
            path_names = tuple(_PATH_PARAM.findall(path))
            filled = _PATH_PARAM.sub(lambda m: str(ids.get(m[1].lower(), "abc1")), path)
            label = operation.get("operationId", f"{method} {path}")
            found.append(
                Case(
                    label,
                    method.upper(),
                    filled if path_names else sent_path,
                    surface,
                    base,
                    names,
                    path_names,
                    sent_path,
                )
            )
    return found


@dataclass
class Target:
    api: Api
    admin_key: str
    sender_key: str
    ids: dict[str, Any]

    def send(self, case: Case, body: dict[str, Any], path: str | None = None) -> httpx.Response:
        path = path or case.path
        if case.surface == "/rest":
            data = b"" if case.method == "GET" else json.dumps(body).encode()
            return self.api.rest.request(case.method, path, data)
        headers = {"Content-Type": "application/json"}
        if case.surface == "/api.php":
            body = {"APIKey": self.api.key, "AdminAPIKey": self.admin_key, **body}
        elif path.endswith(("sender.domains", "relay-domain-check")):
            headers["Authorization"] = f"Bearer {self.admin_key}"
        else:
            headers["Authorization"] = f"Bearer {self.sender_key}"
        content = json.dumps(body).encode()
        return self.api.client.request(case.method, path, content=content, headers=headers)


@pytest.fixture(scope="module", params=BACKENDS)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """A gateway on SQLite, and on PostgreSQL where it answers: PostgreSQL refuses what SQLite
    takes (a NUL in text, two nodes inserting the same row at once), so both are probed."""
    with contextlib.ExitStack() as stack:
        database: dict[str, str] = {}
        if request.param == "postgresql":
            database["MAILGATE_DATABASE_URL"] = stack.enter_context(postgres_database())
        api = stack.enter_context(
            running_api(
                tmp_path_factory.mktemp("types"),
                domain=DOMAIN,
                MAILGATE_ROUTES="*=127.0.0.1:9",  # mail that gets queued goes nowhere
                MAILGATE_API_RATE_LIMIT="0",
                # spamd scores a message in seconds: a probe of input types does not wait on
                # it (tests/http_api/test_rest_spam_test.py scores real messages)
                MAILGATE_SPAMD_ADDRESS=f"127.0.0.1:{free_port()}",
                **database,
            )
        )
        admin_key = api.gateway.json("admin-key")["AdminAPIKey"]
        domain_id, key = api.domain_with_key(DOMAIN)
        listed = api.rest.ok("/rest/subscribers_list/create", {"name": "types"})
        list_hash = listed["hash"] if isinstance(listed, dict) else listed
        smtp = api.call("emailgateway.addsmtp", DomainID=domain_id)["SMTP"]
        ids = {
            "domainid": domain_id,
            "list": list_hash,
            "list_hash": list_hash,
            # a real credential: smtprelay's checks of it are remembered, its other parameters
            # cost no argon2 run each
            "smtpusername": smtp["SMTPUsername"],
            "smtppassword": smtp["SMTPPassword"],
            "mailfrom": f"app@{DOMAIN}",
            "rcptto": "someone@example.org",
        }
        yield Target(api, admin_key, key, ids)


def _probes(target: Target, case: Case) -> Iterator[tuple[str, Any, str | None]]:
    """(parameter, value, path) to send for `case`: path None keeps the plausible one."""
    command = case.label.partition(":")[2]
    values = ONE_OF_EACH_TYPE if command in ARGON2 else ODD_VALUES
    for name in case.names:
        for value in values:
            yield name, value, None
    for name in case.path_names:
        for value in ("", "x" * 10_000, "a\x00b", "-1", str(2**63)):
            quoted = urllib.parse.quote(value, safe="")
            wanted = "{" + name + "}"
            path = _PATH_PARAM.sub(
                lambda m, w=wanted, q=quoted: (
                    q if m[0] == w else str(target.ids.get(m[1].lower(), "abc1"))
                ),
                case.path_template,
            )
            yield name, value, path


def _failures(target: Target, surface: str) -> tuple[int, list[str]]:
    chosen = [case for case in cases(target.ids) if case.surface == surface]
    work = [(case, *probe) for case in chosen for probe in _probes(target, case)]
    work.sort(key=lambda item: item[0].label.partition(":")[2] not in ARGON2)  # slowest first

    def run(item: tuple[Case, str, Any, str | None]) -> str | None:
        case, name, value, path = item
        body = {**case.base, name: value} if path is None else case.base
        answer = target.send(case, body, path)
        if answer.status_code < 500 or _documented(case, answer):
            return None
        shown = repr(value)[:40]
        return f"{case.label} {name}={shown}: {answer.status_code} {answer.text[:200]}"

    with ThreadPoolExecutor(THREADS) as pool:
        found = [failure for failure in pool.map(run, work) if failure]
    return len(work), found


def _documented(case: Case, answer: httpx.Response) -> bool:
    """001's relay check answers 500 {} for "relay denied": a documented 5xx."""
    return case.path.endswith("relay-domain-check") and answer.json() == {}


def test_every_operation_of_every_surface_is_probed(target: Target) -> None:
    labels = {case.label for case in cases(target.ids)}
    commands = {label.partition(":")[2] for label in labels if label.startswith("api.php:")}
    assert commands == set(api_php.COMMANDS)
    rest = [case for case in cases(target.ids) if case.surface == "/rest"]
    assert len(rest) == sum(len(action.methods) for action in rest_protocol.ACTIONS.values())
    assert sum(len(case.names) for case in cases(target.ids)) > 250


@pytest.mark.parametrize("surface", ["/api.php", "/rest", "/api/v1"])
def test_no_parameter_of_any_json_type_gives_a_5xx(target: Target, surface: str) -> None:
    sent, failures = _failures(target, surface)
    assert sent > 50
    assert not failures, f"{len(failures)} of {sent} requests got a 5xx:\n" + "\n".join(failures)


def test_text_parameters_read_as_a_form_would_send_them() -> None:
    """The one reading of a text parameter behind /api.php's Call.text and /rest's
    RestCall.text: what no form sends reads as absent (the command's own code); a NUL never
    reaches it (the reader refuses it, tests/http_api/test_malformed_input.py)."""
    assert [scalar_text(v) for v in ("a b", 7, 1.5, True, False)] == ["a b", "7", "1.5", "1", "0"]
    assert {scalar_text(v) for v in (None, [], [1], {}, {"a": 1})} == {""}
