"""The activation mail of /rest/account/create, end to end: sent through the gateway from the
caller's sender domain, delivered to a sink MX, its link followed over real HTTP; then the new
account signs /rest requests and uses the gateway API with its own credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dkim
import pytest

from tests.conftest import wait_until
from tests.http_api.conftest import Api, RestClient, running_api
from tests.http_api.test_tracking import parsed
from tests.mta.conftest import DnsRecord, Sender, add_sender
from tests.mta.sink import Sink

CREATE = "/rest/account/create"
DOMAIN = "accounts.test"  # the owner's (api.rest) sender domain
LIMITED = "limited.test"  # the other user's (api.other_rest), who may mail one recipient an hour


@dataclass
class Setup:
    api: Api
    sink: Sink
    sender: Sender

    def users(self, login: str) -> list[tuple[Any, ...]]:
        return self.api.gateway.sql(
            "SELECT status, parent_user_id FROM users WHERE email = ?", login
        )


def request(login: str) -> dict[str, Any]:
    """The document's parameters with activation and its mail left to their defaults."""
    return {
        "login": login,
        "password": "Activate-Me-1",
        "firstname": "Grace",
        "lastname": "Hopper",
        "phone": "+1 555 0100",
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with (
        Sink() as sink,
        running_api(
            tmp_path_factory.mktemp("accounts"),
            DOMAIN,
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
        ) as api,
    ):
        sender = add_sender(api.gateway, api.user_id, DOMAIN)
        add_sender(api.gateway, api.other_user_id, LIMITED)
        api.gateway.json("user", "limits", str(api.other_user_id), "--hourly", "1")
        yield Setup(api, sink, sender)


def test_the_mailed_link_activates_the_account(setup: Setup) -> None:
    login = "ok-grace@people.test"
    created = setup.api.rest.ok(CREATE, request(login))
    assert set(created) == {"hash", "api_key", "api_secret", "gateway_api_key"}  # no link
    assert [status for status, _ in setup.users(login)] == ["unverified"]
    account = RestClient(setup.api.client, created["api_key"], created["api_secret"])
    assert account.error("/rest/ping", {}) == (403, [1004])

    assert wait_until(lambda: setup.sink.transactions_to(login))
    [received] = setup.sink.transactions_to(login)
    raw = received.content
    assert dkim.verify(raw, dnsfunc=DnsRecord(setup.sender))
    message = parsed(raw)
    assert message["From"] == f"noreply@{DOMAIN}"
    assert message["To"] == f"Grace Hopper <{login}>"
    assert message["Subject"] == "Activate your account"
    plain = message.get_body(("plain",))
    assert plain is not None
    [link] = re.findall(r"http://\S+/account-activate/\S+", str(plain.get_content()))
    html = message.get_body(("html",))
    assert html is not None and f'href="{link}"' in str(html.get_content())  # not tracked

    page = setup.api.client.get(urlsplit(link).path)
    assert page.status_code == 200 and "Your account is active." in page.text
    assert [status for status, _ in setup.users(login)] == ["active"]
    assert account.get("/rest/ping").json() == {"status": "OK", "data": "pong"}
    domains = setup.api.call("emailgateway.getdomains", key=created["gateway_api_key"])
    assert domains["Success"] is True and domains["Domains"] == []


def test_an_activation_mail_that_cannot_be_sent_leaves_no_account(setup: Setup) -> None:
    """The limited owner may mail one recipient an hour: the second account's mail is refused
    at submission, after the account was saved; it is removed again and 1510 answered."""
    setup.api.other_rest.ok(CREATE, request("ok-first@people.test"))
    assert setup.users("ok-first@people.test") == [("unverified", setup.api.other_user_id)]
    refused = setup.api.other_rest.post(CREATE, request("ok-second@people.test"))
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["code"] == 1510 and "Sending limit reached" in error["message"]
    assert setup.users("ok-second@people.test") == []
