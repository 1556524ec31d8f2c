"""`User.Login` / `User.Logout` and the `SessionID` they hand out, accepted wherever an APIKey
is; a session ends at logout or expiry."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http_api.conftest import Api, db

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def with_password(api: Api) -> str:
    api.gateway.json("user", "add", "login@api.test", "--password", PASSWORD)
    return "login@api.test"


def call(api: Api, command: str, **params: Any) -> dict[str, Any]:
    answer = api.client.post("/api.php", json={"Command": command, **params})
    assert answer.status_code == 200
    return answer.json()


def test_login_gives_a_session_that_works_until_logout(api: Api, with_password: str) -> None:
    logged_in = call(api, "User.Login", Username="LOGIN@api.test", Password=PASSWORD)
    assert logged_in["Success"] is True and logged_in["ErrorCode"] == 0
    session = logged_in["SessionID"]
    assert session.startswith("mgs_") and logged_in["ExpiresAt"]

    added = call(api, "emailgateway.adddomain", SessionID=session, DomainName="session.example")
    assert added["Success"] is True
    assert call(api, "emailgateway.getdomains", SessionID=session)["Domains"][0][
        "SenderDomain"
    ] == ("session.example")
    with db(api) as conn:  # only its digest is stored
        assert session not in str(conn.execute("SELECT token_hash FROM login_sessions").fetchall())

    assert call(api, "User.Logout", SessionID=session) == {
        "Success": True,
        "ErrorCode": 0,
        "LoggedOut": True,
    }
    assert call(api, "emailgateway.getdomains", SessionID=session)["ErrorCode"] == 99998


def test_an_expired_session_is_refused(api: Api, with_password: str) -> None:
    session = call(api, "user.login", username=with_password, password=PASSWORD)["SessionID"]
    assert call(api, "emailgateway.getdomains", SessionID=session)["Success"] is True
    with db(api) as conn:
        conn.execute("UPDATE login_sessions SET expires_at = '2000-01-01 00:00:00.000000'")
    assert call(api, "emailgateway.getdomains", SessionID=session)["ErrorCode"] == 99998


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, 1),
        ({"Username": "login@api.test"}, 2),
        ({"Username": "login@api.test", "Password": "wrong"}, 3),
        ({"Username": "nobody@api.test", "Password": PASSWORD}, 3),
        ({"Username": "owner@api.test", "Password": "no password set"}, 3),
    ],
)
def test_login_errors(api: Api, with_password: str, params: dict[str, str], code: int) -> None:
    answer = call(api, "User.Login", **params)
    assert (answer["Success"], answer["ErrorCode"]) == (False, code)
    assert "SessionID" not in answer
