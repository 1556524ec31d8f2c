"""Issue 16: the suppression list managed through `emailgateway.getsuppressions` /
`deletesuppression` and `GET` / `DELETE /api/v1/suppressions`, against a running gateway:
each filter, paging, an account's entries only (its own and its domains'; another account's
and a global entry are neither listed nor removable), the documented refusals, and a removed
address accepted at RCPT again at once over real SMTP."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, make_gateway
from tests.http_api.conftest import serving
from tests.mta.conftest import Sender, add_sender
from tests.mta.support import logged_in

SERIAL = itertools.count()
LONG_ADDRESS = "a" * 250 + "@x.test"


@dataclass(frozen=True)
class Account:
    user_id: int
    key: str  # its /api.php APIKey
    sender: Sender  # an enabled domain of its, with SMTP credentials
    sender_key: str  # that domain's /api/v1 key


@dataclass(frozen=True)
class Setup:
    gateway: Gateway
    client: httpx.Client

    def account(self) -> Account:
        """A new account with an enabled sender domain, its SMTP login and its API key."""
        n = next(SERIAL)
        user = self.gateway.json("user", "add", f"owner{n}@suppressions.test")
        sender = add_sender(self.gateway, int(user["UserID"]), f"s{n}.suppressions.test")
        added = self.call(
            "emailgateway.addapi", user["APIKey"], Description="t", DomainID=sender.domain_id
        )
        return Account(int(user["UserID"]), user["APIKey"], sender, added["APIKey"]["APIKey"])

    def call(self, command: str, key: str, **params: Any) -> dict[str, Any]:
        answer = self.client.post("/api.php", json={"Command": command, "APIKey": key, **params})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def v1(self, method: str, key: str | None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if method == "GET":
            return self.client.get("/api/v1/suppressions", headers=headers, params=params)
        return self.client.request(
            method, "/api/v1/suppressions", headers=headers, json=params or None
        )

    def suppress(
        self, address: str, reason: str, source: str, user_id: int | None, domain_id: int | None
    ) -> None:
        """An entry as the gateway's own paths add them (a bounce, an unsubscribe, ...)."""
        scope = "domain" if domain_id else "account" if user_id else "global"
        self.gateway.sql(
            "INSERT INTO suppressions (address, scope, user_id, sender_domain_id, reason, "
            "source, created_at) VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
            address, scope, user_id, domain_id, reason, source,
        )  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    gateway = make_gateway(tmp_path_factory.mktemp("suppressions"), MAILGATE_SMTP_PROCESSES="1")
    with serving(gateway) as client:
        yield Setup(gateway, client)


def entries(setup: Setup) -> tuple[Account, Account]:
    """Two accounts; the first with five entries (four its own, one of its domain), the second
    with one, and one global entry, added in this order."""
    owner, other = setup.account(), setup.account()
    setup.suppress("gone@dest.test", "bad-mailbox", "dsn", owner.user_id, None)
    setup.suppress("full@dest.test", "soft bounces in a row", "dsn", owner.user_id, None)
    setup.suppress("nx@dest.test", "bad-domain", "delivery", owner.user_id, None)
    setup.suppress("left@dest.test", "unsubscribed", "unsubscribe", None, owner.sender.domain_id)
    setup.suppress("spam@dest.test", "complaint", "fbl", owner.user_id, None)
    setup.suppress("theirs@dest.test", "bad-mailbox", "dsn", other.user_id, None)
    setup.suppress(everyone(owner), "complaint", "operator", None, None)
    return owner, other


def everyone(owner: Account) -> str:
    """The global entry `entries` adds beside `owner`'s (one per test: entries are unique)."""
    return f"everyone{owner.user_id}@dest.test"


def listed(answer: dict[str, Any]) -> list[str]:
    return [entry["Address"] for entry in answer["Suppressions"]]


def test_getsuppressions_lists_the_accounts_entries_filtered_and_paged(setup: Setup) -> None:
    owner, other = entries(setup)
    page = {"StartFrom": 0, "RetrieveCount": 100}
    answer = setup.call("emailgateway.getsuppressions", owner.key, **page)
    assert (answer["Success"], answer["ErrorCode"], answer["TotalRecords"]) == (True, 0, 5)
    assert listed(answer) == [
        "spam@dest.test", "left@dest.test", "nx@dest.test", "full@dest.test", "gone@dest.test",
    ]  # fmt: skip
    left, nx = answer["Suppressions"][1], answer["Suppressions"][2]
    assert nx == {
        "Address": "nx@dest.test",
        "Reason": "bad-domain",
        "Category": "bad-domain",  # the bounce's PowerMTA category, stored as the reason
        "Source": "delivery",
        "Scope": "account",
        "DomainID": None,
        "SenderDomain": "",
        "SuppressedAt": nx["SuppressedAt"],
    }
    assert nx["SuppressedAt"].endswith("Z") and len(nx["SuppressedAt"]) == 20
    assert (left["Category"], left["Scope"]) == ("", "domain")
    assert (left["DomainID"], left["SenderDomain"]) == (owner.sender.domain_id, owner.sender.domain)

    by_address = setup.call(
        "emailgateway.getsuppressions", owner.key, **page, Address="NX@dest.test"
    )
    assert (by_address["TotalRecords"], listed(by_address)) == (1, ["nx@dest.test"])
    by_reason = setup.call("emailgateway.getsuppressions", owner.key, **page, Reason="bad-mailbox")
    assert (by_reason["TotalRecords"], listed(by_reason)) == (1, ["gone@dest.test"])
    paged = setup.call("emailgateway.getsuppressions", owner.key, StartFrom=1, RetrieveCount=2)
    assert (paged["TotalRecords"], listed(paged)) == (5, ["left@dest.test", "nx@dest.test"])
    # another account's and the global entries are not the owner's to see
    for address in ("theirs@dest.test", everyone(owner)):
        found = setup.call("emailgateway.getsuppressions", owner.key, **page, Address=address)
        assert (found["TotalRecords"], found["Suppressions"]) == (0, [])
    theirs = setup.call("emailgateway.getsuppressions", other.key, **page)
    assert listed(theirs) == ["theirs@dest.test"]


def test_getsuppressions_refuses_bad_paging_and_values(setup: Setup) -> None:
    owner = setup.account()
    for params, code in (
        ({"RetrieveCount": 5}, 4),
        ({"StartFrom": 0}, 5),
        ({"StartFrom": -1, "RetrieveCount": 5}, 4),
        ({"StartFrom": 0, "RetrieveCount": 0}, 5),
        ({"StartFrom": 0, "RetrieveCount": 5, "Address": LONG_ADDRESS}, 3),
        ({"StartFrom": 0, "RetrieveCount": 5, "Reason": "r" * 65}, 3),
    ):
        answer = setup.call("emailgateway.getsuppressions", owner.key, **params)
        assert (answer["Success"], answer["ErrorCode"]) == (False, code), params
    capped = setup.call("emailgateway.getsuppressions", owner.key, StartFrom=0, RetrieveCount=10**6)
    assert capped["Success"] is True
    refused = setup.call("emailgateway.getsuppressions", "not-a-key", StartFrom=0, RetrieveCount=5)
    assert refused["ErrorCode"] == 99998


def rcpt(sender: Sender, gateway: Gateway, address: str) -> int:
    """The reply code of RCPT TO `address` from the account's sender, over real SMTP."""
    with logged_in(gateway.ports["submission"], sender.username, sender.password) as smtp:
        smtp.mail(sender.address)
        return smtp.rcpt(address)[0]


def test_deletesuppression_removes_the_accounts_entries_only(setup: Setup) -> None:
    owner, other = entries(setup)
    assert rcpt(owner.sender, setup.gateway, "nx@dest.test") == 550
    removed = setup.call("emailgateway.deletesuppression", owner.key, Address="NX@dest.test")
    assert removed == {"Success": True, "ErrorCode": 0, "Removed": 1}
    assert rcpt(owner.sender, setup.gateway, "nx@dest.test") == 250  # at once: no cache
    # its domain's entry too, whatever made it
    assert (
        setup.call("emailgateway.deletesuppression", owner.key, Address="left@dest.test")["Removed"]
        == 1
    )
    for address in ("theirs@dest.test", everyone(owner), "nx@dest.test", "never@x.test"):
        answer = setup.call("emailgateway.deletesuppression", owner.key, Address=address)
        assert (answer["Success"], answer["ErrorCode"]) == (False, 2), address
    assert rcpt(other.sender, setup.gateway, "theirs@dest.test") == 550
    assert rcpt(owner.sender, setup.gateway, everyone(owner)) == 550
    for params, code in (({}, 1), ({"Address": "  "}, 1), ({"Address": LONG_ADDRESS}, 3)):
        answer = setup.call("emailgateway.deletesuppression", owner.key, **params)
        assert (answer["Success"], answer["ErrorCode"]) == (False, code), params


def test_api_v1_lists_the_key_accounts_entries_filtered_and_paged(setup: Setup) -> None:
    owner, other = entries(setup)
    answer = setup.v1("GET", owner.sender_key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["TotalRecords"] == 5
    assert listed(body) == [  # 5 by default, as GET /api/v1/events
        "spam@dest.test", "left@dest.test", "nx@dest.test", "full@dest.test", "gone@dest.test",
    ]  # fmt: skip
    first = body["Suppressions"][0]
    assert {k: first[k] for k in ("Address", "Reason", "Category", "Source")} == {
        "Address": "spam@dest.test",
        "Reason": "complaint",
        "Category": "",
        "Source": "fbl",
    }
    assert first["SuppressedAt"].endswith("Z")
    paged = setup.v1("GET", owner.sender_key, StartFrom=3, RetrieveCount=1).json()
    assert (paged["TotalRecords"], listed(paged)) == (5, ["full@dest.test"])
    by_reason = setup.v1("GET", owner.sender_key, Reason="unsubscribed").json()
    assert listed(by_reason) == ["left@dest.test"]
    by_address = setup.v1("GET", owner.sender_key, Address="theirs@dest.test").json()
    assert by_address == {"TotalRecords": 0, "Suppressions": []}
    assert listed(setup.v1("GET", other.sender_key).json()) == ["theirs@dest.test"]


def test_api_v1_delete_removes_and_the_address_is_accepted_at_once(setup: Setup) -> None:
    owner, other = entries(setup)
    assert rcpt(owner.sender, setup.gateway, "gone@dest.test") == 550
    answer = setup.v1("DELETE", owner.sender_key, Address="Gone@dest.test")
    assert (answer.status_code, answer.json()) == (200, {"Removed": 1})
    assert rcpt(owner.sender, setup.gateway, "gone@dest.test") == 250
    for address in ("gone@dest.test", "theirs@dest.test", everyone(owner)):
        refused = setup.v1("DELETE", owner.sender_key, Address=address)
        assert refused.status_code == 404, address
        assert refused.json() == {
            "Errors": [{"Code": 4, "Message": "Address is not on the suppression list"}]
        }
    assert rcpt(other.sender, setup.gateway, "theirs@dest.test") == 550


def test_api_v1_refusals_are_in_the_envelope(setup: Setup) -> None:
    owner = setup.account()
    key = owner.sender_key
    for method, key_sent, params, status, code in (
        ("GET", None, {}, 401, 13),
        ("GET", "eg_live_wrong", {}, 401, 13),
        ("GET", key, {"StartFrom": -1}, 400, 4),
        ("GET", key, {"StartFrom": "x"}, 400, 4),
        ("GET", key, {"RetrieveCount": 0}, 400, 5),
        ("GET", key, {"Address": LONG_ADDRESS}, 400, 3),
        ("GET", key, {"Reason": "r" * 65}, 400, 3),
        ("DELETE", None, {"Address": "a@x.test"}, 401, 13),
        ("DELETE", key, {}, 400, 1),
        ("DELETE", key, {"Address": ["a@x.test"]}, 400, 1),
        ("DELETE", key, {"Address": LONG_ADDRESS}, 400, 3),
    ):
        answer = setup.v1(method, key_sent, **params)
        assert answer.status_code == status, (method, params, answer.text)
        assert answer.json()["Errors"][0]["Code"] == code, (method, params)
    capped = setup.v1("GET", key, RetrieveCount=10**6)
    assert capped.status_code == 200 and capped.json()["TotalRecords"] == 0
