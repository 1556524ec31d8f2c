"""The /rest protocol of 003 over real HTTP against `mailgate serve`: both signing schemes built
by an independent client, the answer shapes, and the general error codes 1000-1004."""

from __future__ import annotations

import json

import pytest

from tests.http_api.conftest import Api, RestClient, db


def test_ping_answers_pong_and_echoes_posted_json_and_form_data(api: Api) -> None:
    answer = api.rest.get("/rest/ping")
    assert answer.status_code == 200 and answer.json() == {"status": "OK", "data": "pong"}
    assert api.rest.ok("/rest/ping", {"subscriber": "test@test.com"}) == {
        "subscriber": "test@test.com"
    }
    form = api.rest.post_form(
        "/rest/ping",
        [("email", "test@test.pl"), ("subject", "test email"), ("custom_fields[city]", "Kraków"),
         ("emails[]", "a@x.example"), ("emails[]", "b@x.example")],
    )  # fmt: skip
    assert form.status_code == 200, form.text
    assert form.json()["data"] == {
        "email": "test@test.pl",
        "subject": "test email",
        "custom_fields": {"city": "Kraków"},
        "emails": ["a@x.example", "b@x.example"],
    }


def test_the_signature_covers_key_path_body_and_secret(api: Api) -> None:
    body = json.dumps({"a": 1}).encode()
    good = api.rest.sign("/rest/ping", body)
    headers = {"X-Rest-ApiKey": api.rest.key, "Content-Type": "application/json"}
    wrong_secret = RestClient(api.client, api.rest.key, "0" * 40)
    for sign, path, sent in [
        (good, "/rest/ping", body + b" "),  # another body
        (api.rest.sign("/rest/ping/x", body), "/rest/ping", body),  # another path
        (wrong_secret.sign("/rest/ping", body), "/rest/ping", body),
        ("", "/rest/ping", body),
    ]:
        answer = api.client.post(path, content=sent, headers={**headers, "X-Rest-ApiSign": sign})
        assert answer.status_code == 401, (sign, path)
        assert answer.json() == {
            "errors": [{"message": "No authorization", "code": 1000}],
            "status": "ERROR",
        }
    accepted = api.client.post(
        "/rest/ping", content=body, headers={**headers, "X-Rest-ApiSign": good.upper()}
    )
    assert accepted.status_code == 200
    # Another account's key with this account's secret, and no key at all.
    assert RestClient(api.client, api.other_rest.key, api.rest.secret).error("/rest/ping", {}) == (
        401,
        [1000],
    )
    assert api.client.get("/rest/ping").status_code == 401


def test_a_query_string_is_part_of_the_signed_path(api: Api) -> None:
    assert api.rest.get("/rest/ping?x=1").json()["data"] == "pong"
    unsigned_query = api.client.get(
        "/rest/ping?x=1",
        headers={"X-Rest-ApiKey": api.rest.key, "X-Rest-ApiSign": api.rest.sign("/rest/ping", b"")},
    )
    assert unsigned_query.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/rest/nothing/here", b"{}", 404, 1001),
        ("GET", "/rest/", b"", 404, 1001),
        ("POST", "/rest/ping", b"{not json", 400, 1002),
        ("POST", "/rest/ping", b"\xff\xfe=1", 400, 1002),
        ("DELETE", "/rest/ping", b"", 405, 1003),
    ],
)
def test_general_error_codes(
    api: Api, method: str, path: str, body: bytes, status: int, code: int
) -> None:
    answer = api.rest.request(method, path, body)
    assert answer.status_code == status, answer.text
    parsed = answer.json()
    assert parsed["status"] == "ERROR" and [e["code"] for e in parsed["errors"]] == [code]
    assert parsed["errors"][0]["message"]


def test_a_deactivated_account_has_no_permission(api: Api) -> None:
    def status(value: str) -> None:
        with db(api) as conn:
            conn.execute(
                "UPDATE users SET status = ? WHERE rest_api_key = ?", (value, api.other_rest.key)
            )

    status("deactivated")
    try:
        assert api.other_rest.error("/rest/ping", {}) == (403, [1004])
    finally:
        status("active")
    assert api.other_rest.ok("/rest/ping", {}) == {}
