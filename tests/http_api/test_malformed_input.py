"""Issue 14, finding 5: malformed input that gave HTTP 500 is a 400 (or the surface's documented
error) on each of the three surfaces, decided by each surface's one parameter reader: JSON
nested 1,000 deep, lone surrogates, integers of 2**63 and more in ids and paging, NaN and
Infinity, and form values with what would decode to a surrogate."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.http_api.conftest import Api

DEEP = "[" * 1000 + "]" * 1000
TOO_BIG = "9223372036854775808"  # 2**63: no id column can hold it
# JSON texts a client can send where an object is wanted, and what each breaks.
MALFORMED_JSON = {
    "nested 1000 deep": '{{"Value": {deep}{more}}}',
    "lone surrogate": '{{"Value": "\\ud800"{more}}}',
    "lone surrogate in a name": '{{"V\\udfff": 1{more}}}',
    "NUL in a string": '{{"Value": "a\\u0000b"{more}}}',
    "integer of 2**63": '{{"Value": {too_big}{more}}}',
    "NaN": '{{"Value": NaN{more}}}',
    "Infinity": '{{"Value": -Infinity{more}}}',
    "overflowing float": '{{"Value": 1e400{more}}}',
}


def malformed(kind: str, **more: Any) -> bytes:
    """The malformed JSON object of `kind`, with `more` members (JSON-encoded values)."""
    extra = "".join(f', "{name}": {value}' for name, value in more.items())
    text = MALFORMED_JSON[kind].format(deep=DEEP, too_big=TOO_BIG, more=extra)
    return text.encode("utf-8", "surrogatepass")


def _json(client: httpx.Client, method: str, path: str, body: bytes, **headers: str) -> Any:
    headers["Content-Type"] = "application/json"
    return client.request(method, path, content=body, headers=headers)


# -- /api.php ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MALFORMED_JSON))
def test_api_php_refuses_malformed_json_with_400(api: Api, kind: str) -> None:
    body = malformed(kind, Command='"emailgateway.getdomains"', APIKey=f'"{api.key}"')
    answer = _json(api.client, "POST", "/api.php", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["ErrorCode"] == 99996


def test_api_php_ids_beyond_a_row_name_nothing(api: Api) -> None:
    """An id given as text that no row can have is "not found" (OverflowError before)."""
    for command, name, code in (
        ("emailgateway.getdomain", "DomainID", 2),
        ("emailgateway.deleteapi", "APIKeyID", 2),
        ("emailgateway.deletesmtp", "SMTPID", 2),
    ):
        answer = api.call(command, **{name: TOO_BIG})
        assert (answer["Success"], answer["ErrorCode"]) == (False, code), (command, answer)


def test_api_php_form_values_that_would_decode_to_a_surrogate(api: Api) -> None:
    """`%ED%A0%80` is a surrogate's UTF-8 form: a form value is decoded with replacement."""
    body = f"Command=emailgateway.adddomain&APIKey={api.key}&DomainName=%ED%A0%80.test"
    answer = api.client.post(
        "/api.php", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["Success"] is False


def test_api_php_form_and_query_values_with_a_nul_are_400(api: Api) -> None:
    """No parameter may hold a NUL (PostgreSQL cannot store one): refused by the reader."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = f"Command=emailgateway.adddomain&APIKey={api.key}&DomainName=a%00b.test"
    in_form = api.client.post("/api.php", content=body, headers=form)
    in_query = api.client.post(f"/api.php?{body}")
    for answer in (in_form, in_query):
        assert answer.status_code == 400, answer.text
        assert answer.json()["ErrorCode"] == 99996


# -- /api/v1 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MALFORMED_JSON))
def test_api_v1_refuses_malformed_json_with_400(api: Api, sender_key: str, kind: str) -> None:
    bearer = f"Bearer {sender_key}"
    for method, path in (("POST", "/api/v1/webhooks"), ("GET", "/api/v1/events")):
        answer = _json(api.client, method, path, malformed(kind), Authorization=bearer)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["Errors"][0]["Code"] == 0, (path, answer.text)


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("StartFrom", TOO_BIG, 4),
        ("RetrieveCount", TOO_BIG, 5),
        ("StartDate", TOO_BIG, 4),
        ("EndDate", "99999999999999", 4),  # a time no date can hold
        ("StartFrom", "-1", 4),
        ("RetrieveCount", "²", 5),  # a digit to str.isdigit, not to int()
    ],
)
def test_api_v1_events_paging_beyond_its_range(
    api: Api, sender_key: str, name: str, value: str, code: int
) -> None:
    answer = api.client.get(
        "/api/v1/events", params={name: value}, headers={"Authorization": f"Bearer {sender_key}"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"Errors": [{"Code": code, "Message": f"Invalid {name}"}]}


def test_api_v1_webhook_id_beyond_a_row_names_no_webhook(api: Api, sender_key: str) -> None:
    answer = api.client.request(
        "DELETE",
        "/api/v1/webhooks",
        json={"WebhookID": TOO_BIG},
        headers={"Authorization": f"Bearer {sender_key}"},
    )
    assert answer.status_code == 404, answer.text
    assert answer.json()["Errors"][0]["Code"] == 4


# -- /rest ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MALFORMED_JSON))
def test_rest_refuses_malformed_json_with_1002(api: Api, kind: str) -> None:
    answer = api.rest.request("POST", "/rest/subscribers_list/create", malformed(kind))
    assert answer.status_code == 400, answer.text
    assert [error["code"] for error in answer.json()["errors"]] == [1002]


def test_rest_form_values_with_a_nul_are_1002(api: Api) -> None:
    body = b"name=a%00b"
    answer = api.rest.request(
        "POST", "/rest/subscribers_list/create", body, "application/x-www-form-urlencoded"
    )
    assert answer.status_code == 400, answer.text
    assert [error["code"] for error in answer.json()["errors"]] == [1002]


def test_rest_access_paths_with_a_nul_are_1002(api: Api) -> None:
    """A path parameter with a NUL named nothing on SQLite and was a 500 on PostgreSQL."""
    answer = api.rest.get("/rest/subscriber/get/a%00b/x@example.org")
    assert answer.status_code == 400, answer.text
    assert [error["code"] for error in answer.json()["errors"]] == [1002]


def test_rest_form_names_nested_without_end(api: Api) -> None:
    body = ("a" + "[b]" * 1000 + "=1").encode()
    answer = api.rest.request(
        "POST", "/rest/subscribers_list/create", body, "application/x-www-form-urlencoded"
    )
    assert answer.status_code == 400, answer.text
    assert [error["code"] for error in answer.json()["errors"]] == [1002]


@pytest.mark.parametrize("page", [TOO_BIG, "%C2%B2", "0"])  # %C2%B2: "²", a digit to isdigit
def test_rest_page_numbers_beyond_the_range(api: Api, page: str) -> None:
    answer = api.rest.get(f"/rest/reports/campaignsList/{page}")
    assert answer.status_code == 400, answer.text
    assert [error["code"] for error in answer.json()["errors"]] == [1401]


# -- every JSON type where a parameter is read --------------------------------------------------

ODD_VALUES = [None, True, 1.5, -1, 2**63 - 1, [], ["x"], {}, {"a": 1}, "", " ", "\u0000"]
V1_PARAMETERS = [
    ("POST", "/api/v1/webhooks", "Event", {"WebhookURL": "https://example.com/h"}),
    ("POST", "/api/v1/webhooks", "WebhookURL", {"Event": "delivered"}),
    ("DELETE", "/api/v1/webhooks", "WebhookID", {}),
    ("GET", "/api/v1/events", "StartFrom", {}),
    ("GET", "/api/v1/events", "RetrieveCount", {}),
    ("GET", "/api/v1/events", "StartDate", {}),
    ("GET", "/api/v1/events", "Event", {}),
    ("GET", "/api/v1/events", "MessageID", {}),
    ("GET", "/api/v1/events", "SenderAPIKey", {}),
    ("POST", "/api/v1/sender.domains", "DomainsResponseFormat", {}),
    ("POST", "/api/v1/sender.domains", "AdminAPIKey", {}),
    ("GET", "/api/v1/inbound-relay-domain-check", "domain", {}),
]


@pytest.mark.parametrize(("method", "path", "name", "others"), V1_PARAMETERS)
def test_api_v1_parameters_of_any_json_type_never_give_500(
    api: Api, sender_key: str, method: str, path: str, name: str, others: dict[str, Any]
) -> None:
    for value in ODD_VALUES:
        body = {**others, name: value}
        headers = {"Authorization": f"Bearer {sender_key}"} if name != "SenderAPIKey" else {}
        answer = api.client.request(method, path, json=body, headers=headers)
        relay_denied = path.endswith("relay-domain-check") and answer.json() == {}
        assert answer.status_code < 500 or relay_denied, (name, value, answer.text)


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("emailgateway.addwebhook", "DomainID"),
        ("emailgateway.addwebhook", "Event"),
        ("emailgateway.addwebhook", "WebhookURL"),
        ("emailgateway.getwebhooks", "DomainID"),
        ("emailgateway.deletewebhook", "WebhookID"),
        ("emailgateway.deletewebhook", "DomainID"),
        ("sender.domains", "DomainsResponseFormat"),
    ],
)
def test_api_php_webhook_parameters_of_any_json_type_never_give_500(
    api: Api, command: str, name: str
) -> None:
    for value in ODD_VALUES:
        body = {"Command": command, "APIKey": api.key, "DomainID": 1, "WebhookID": 1, name: value}
        answer = api.client.post("/api.php", json=body)
        assert answer.status_code < 500, (name, value, answer.text)
