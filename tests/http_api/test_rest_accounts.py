"""/rest/account/create over real HTTP against `mailgate serve`: every documented code, the
answer's shape, sub and primary accounts, and activation by link (the mailed link end to end is
in test_rest_account_activation.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.http_api.conftest import Api, RestClient, db

CREATE = "/rest/account/create"
PASSWORD = "Correct-Horse7"


def wanted(login: str, **changes: Any) -> dict[str, Any]:
    """A complete request for an account that needs no activation (no mail: the `api` fixture's
    users have no sender domain)."""
    return {
        "login": login,
        "password": PASSWORD,
        "firstname": "Ada",
        "lastname": "Lovelace",
        "company": "Analytical Engines",
        "phone": "+44 20 7946 0958",
        "activation": 0,
        **changes,
    }


def client_of(api: Api, created: dict[str, Any]) -> RestClient:
    return RestClient(api.client, created["api_key"], created["api_secret"])


def stored(api: Api, login: str) -> tuple[Any, ...] | None:
    with db(api) as conn:
        return conn.execute(
            "SELECT status, parent_user_id, first_name, last_name, company, phone, password_hash"
            " FROM users WHERE email = ?",
            (login,),
        ).fetchone()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"login": None}, 1501),
        ({"login": "  "}, 1501),
        ({"login": "not-an-address"}, 1502),
        ({"login": "ada@localhost"}, 1502),
        ({"password": None}, 1504),
        ({"password": ""}, 1504),
        ({"password": "Sh0rt!"}, 1505),
        ({"password": "no-capital-letter"}, 1505),
        ({"password": "NoSpecialCharacter1"}, 1505),
        ({"password": "With Space But No Mark"}, 1505),
        ({"firstname": ""}, 1506),
        ({"firstname": None}, 1506),
        ({"lastname": " "}, 1507),
        ({"phone": None}, 1509),
        ({"phone": "call me"}, 1509),
        ({"firstname": "A" * 129}, 1511),
        ({"company": "C" * 256}, 1511),
        ({"lastname": "Love\r\nBcc: x@y.test"}, 1511),
        ({"firstname": ["Ada"]}, 1511),
        ({"activation": "maybe"}, 1511),
        ({"child_account": "grandchild"}, 1511),
        ({"password": "P!" + "x" * 1100}, 1511),
    ],
)
def test_each_missing_or_unusable_value_answers_its_code(
    api: Api, changes: dict[str, Any], code: int
) -> None:
    merged = {**wanted("refused@people.test"), **changes}
    request = {name: value for name, value in merged.items() if value is not None}
    assert api.rest.error(CREATE, request) == (400, [code])
    assert stored(api, "refused@people.test") is None


def test_a_login_that_is_an_existing_account_answers_1503(api: Api) -> None:
    assert api.rest.error(CREATE, wanted("owner@api.test")) == (400, [1503])
    assert api.rest.error(CREATE, wanted(" Other@API.test ")) == (400, [1503])


def test_an_account_is_created_as_the_callers_sub_account(api: Api) -> None:
    created = api.rest.ok(CREATE, wanted("Ada@People.test"))
    assert set(created) == {"hash", "api_key", "api_secret", "gateway_api_key"}
    assert len(created["api_key"]) == 32 and len(created["api_secret"]) == 40
    assert created["hash"] and created["gateway_api_key"].startswith("mg_")
    status, parent, first, last, company, phone, password_hash = stored(api, "ada@people.test")
    assert (status, parent) == ("active", api.user_id)
    assert (first, last, company, phone) == ("Ada", "Lovelace", "Analytical Engines",
                                              "+44 20 7946 0958")  # fmt: skip
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash
    # Its own credentials work on /rest and on the gateway API at once.
    assert client_of(api, created).get("/rest/ping").json()["data"] == "pong"
    domains = api.call("emailgateway.getdomains", key=created["gateway_api_key"])
    assert domains["Success"] is True and domains["Domains"] == []
    # And it is an account like any other: its login is taken now.
    assert api.rest.error(CREATE, wanted("ada@people.test")) == (400, [1503])


def test_form_data_and_yes_no_words_are_read_too(api: Api) -> None:
    pairs = [(k, str(v)) for k, v in wanted("form@people.test", activation="no").items()]
    answer = api.rest.post_form(CREATE, pairs)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "OK"
    assert stored(api, "form@people.test")[:2] == ("active", api.user_id)


def test_a_sub_account_may_not_create_accounts(api: Api) -> None:
    sub = client_of(api, api.rest.ok(CREATE, wanted("sub@people.test")))
    assert sub.error(CREATE, wanted("grandchild@people.test")) == (400, [1513])
    assert sub.error(CREATE, wanted("grandchild@people.test", child_account="primary")) == (
        400,
        [1513],
    )
    assert stored(api, "grandchild@people.test") is None


def test_a_primary_account_has_no_parent_and_may_create_accounts(api: Api) -> None:
    primary = api.rest.ok(CREATE, wanted("primary@people.test", child_account="primary"))
    assert stored(api, "primary@people.test")[:2] == ("active", None)
    client = client_of(api, primary)
    client.ok(CREATE, wanted("its-sub@people.test"))
    with db(api) as conn:
        parent = conn.execute(
            "SELECT id FROM users WHERE email = 'primary@people.test'"
        ).fetchone()[0]
    assert stored(api, "its-sub@people.test")[:2] == ("active", parent)


def test_an_account_awaiting_activation_works_once_its_link_is_followed(api: Api) -> None:
    created = api.rest.ok(CREATE, wanted("later@people.test", activation=1, activation_mail=0))
    link = urlsplit(created.pop("activation_url"))
    assert set(created) == {"hash", "api_key", "api_secret", "gateway_api_key"}
    assert stored(api, "later@people.test")[0] == "unverified"
    client = client_of(api, created)
    # Not active yet: the protocol's 1004 on /rest, an unusable key on the gateway API.
    assert client.error("/rest/ping", {}) == (403, [1004])
    assert api.call("emailgateway.getdomains", key=created["gateway_api_key"])["Success"] is False
    # An altered link opens nothing.
    token = link.path.rsplit("/", 1)[1]
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:20], "x" * 32):
        assert api.client.get(f"/account-activate/{bad}").status_code == 404
    assert stored(api, "later@people.test")[0] == "unverified"
    followed = api.client.get(link.path)
    assert followed.status_code == 200 and "active" in followed.text
    assert stored(api, "later@people.test")[0] == "active"
    assert client.get("/rest/ping").json()["data"] == "pong"
    assert api.call("emailgateway.getdomains", key=created["gateway_api_key"])["Success"] is True
    assert api.client.get(link.path).status_code == 200  # a second visit changes nothing


def test_an_activation_mail_needs_a_sender_domain_of_the_caller(api: Api) -> None:
    """The defaults mail the link; a caller with no Enabled sender domain gets 1510 and no
    account is made, so the same login can be created another way."""
    request = wanted("unmailed@people.test")
    del request["activation"]
    assert api.rest.error(CREATE, request) == (400, [1510])
    assert stored(api, "unmailed@people.test") is None
    api.rest.ok(CREATE, {**request, "activation_mail": 0})
    assert stored(api, "unmailed@people.test")[0] == "unverified"


def test_the_same_login_asked_for_at_once_is_saved_once(api: Api) -> None:
    """Requests find the login free, then one saves it first: the others answer 1512 (or 1503
    when they checked after the save). Raced again under a new login until 1512 shows, since
    the interleaving is the machine's to choose."""
    seen: set[int] = set()
    for attempt in range(10):
        login = f"race{attempt}@people.test"
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(lambda request: api.rest.post(CREATE, request), [wanted(login)] * 4)
            )
        succeeded = [a for a in answers if a.status_code == 200]
        codes = {a.json()["errors"][0]["code"] for a in answers if a.status_code != 200}
        assert len(succeeded) == 1 and codes <= {1503, 1512}
        assert stored(api, login) is not None  # one row: the email is unique
        seen |= codes
        if 1512 in seen:
            break
    assert 1512 in seen


def test_a_deactivated_account_is_not_activated_by_its_link(api: Api) -> None:
    created = api.rest.ok(CREATE, wanted("gone@people.test", activation=1, activation_mail=0))
    with db(api) as conn:  # as an operator would deactivate it
        conn.execute("UPDATE users SET status = 'deactivated' WHERE email = 'gone@people.test'")
    answer = api.client.get(urlsplit(created["activation_url"]).path)
    assert answer.status_code == 410
    assert stored(api, "gone@people.test")[0] == "deactivated"
