"""Double opt-in end to end: a subscriber added over /rest awaiting activation is sent a
confirmation mail from the account's sender domain, delivered to a sink MX; the link in it is
followed over real HTTP and the subscriber becomes active. A tampered link answers 404. The
subscriber's history (the campaigns sent to it) does not count the confirmation."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import make_gateway, wait_until
from tests.http_api.conftest import RestClient, serving
from tests.mta.conftest import add_sender
from tests.mta.sink import Sink

DOMAIN = "lists.test"


@dataclass
class Setup:
    client: httpx.Client
    rest: RestClient
    sink: Sink


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("optin"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
        )
        user = gateway.json("user", "add", f"owner@{DOMAIN}")
        add_sender(gateway, int(user["UserID"]), DOMAIN)
        with serving(gateway) as client:
            yield Setup(client, RestClient(client, user["RestApiKey"], user["RestApiSecret"]), sink)


def confirmation_to(setup: Setup, recipient: str) -> EmailMessage:
    wait_until(lambda: setup.sink.transactions_to(recipient))
    [received] = setup.sink.transactions_to(recipient)
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def link_in(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    found = re.search(r"http://\S+/rest-activate/\S+", part.get_content())
    assert found, part.get_content()
    return found.group(0)


def state(setup: Setup, list_hash: str, address: str) -> int:
    answer = setup.rest.get(f"/rest/subscriber/get/{list_hash}/{address}")
    return int(answer.json()["data"]["state"])


def test_confirmation_mail_link_activates_the_subscriber(setup: Setup) -> None:
    list_hash = setup.rest.ok("/rest/subscribers_list/create", {"name": "Weekly news"})["hash"]
    added = setup.rest.ok(
        "/rest/subscriber/add", {"email": "ok-ann@reader.test", "list": list_hash}
    )
    assert added == {"email": "ok-ann@reader.test", "state": 2, "confirmation_sent": True}

    message = confirmation_to(setup, "ok-ann@reader.test")
    assert message["From"] == f"noreply@{DOMAIN}"
    assert message["Subject"] == "Confirm your subscription to Weekly news"
    assert f"d={DOMAIN}" in str(message["DKIM-Signature"])
    link = urlsplit(link_in(message))

    tampered = link.path[:-2] + ("AA" if not link.path.endswith("AA") else "BB")
    for path in (tampered, "/rest-activate/short", link.path + "x"):
        assert setup.client.get(path).status_code == 404
    assert state(setup, list_hash, "ok-ann@reader.test") == 2

    page = setup.client.get(link.path, headers={"Host": link.netloc})
    assert page.status_code == 200 and "Subscription confirmed" in page.text
    assert "ok-ann@reader.test" in page.text
    assert state(setup, list_hash, "ok-ann@reader.test") == 1
    assert setup.client.get(link.path).status_code == 200  # followed again: still confirmed

    # The confirmation is not a campaign: the history (campaigns sent) has nothing yet.
    asked = {"email": "ok-ann@reader.test", "list": list_hash}
    assert setup.rest.error("/rest/subscriber/getHistory", asked) == (400, [1315])
    assert (
        setup.rest.get(f"/rest/subscriber/get/{list_hash}/ok-ann@reader.test").json()["data"][
            "sent"
        ]
        is None
    )


def test_a_deleted_subscribers_link_no_longer_works(setup: Setup) -> None:
    list_hash = setup.rest.ok("/rest/subscribers_list/create", {"name": "Gone"})["hash"]
    setup.rest.ok("/rest/subscriber/add", {"email": "ok-bob@reader.test", "list": list_hash})
    link = urlsplit(link_in(confirmation_to(setup, "ok-bob@reader.test")))
    setup.rest.ok("/rest/subscriber/delete", {"email": "ok-bob@reader.test", "list": list_hash})
    assert setup.client.get(link.path).status_code == 404


def test_multiple_and_no_confirmation_when_not_asked(setup: Setup) -> None:
    list_hash = setup.rest.ok("/rest/subscribers_list/create", {"name": "Batch"})["hash"]
    answer = setup.rest.ok(
        "/rest/subscriber/addMultiple",
        {"list": list_hash, "subscribers": [{"email": "ok-c1@reader.test"},
                                            {"email": "ok-c2@reader.test"}]},
    )  # fmt: skip
    assert answer["inserted"] == 2
    for address in ("ok-c1@reader.test", "ok-c2@reader.test"):
        page = setup.client.get(urlsplit(link_in(confirmation_to(setup, address))).path)
        assert page.status_code == 200
        assert state(setup, list_hash, address) == 1
    quiet = setup.rest.ok(
        "/rest/subscriber/add", {"email": "ok-quiet@reader.test", "list": list_hash, "confirm": 0}
    )
    assert "confirmation_sent" not in quiet
    setup.rest.ok("/rest/subscriber/add", {"email": "ok-active@reader.test", "list": list_hash,
                                           "state": 1})  # fmt: skip
    # A later confirmation to another address arrives; the quiet ones never got one.
    setup.rest.ok("/rest/subscriber/add", {"email": "ok-last@reader.test", "list": list_hash})
    confirmation_to(setup, "ok-last@reader.test")
    assert not setup.sink.transactions_to("ok-quiet@reader.test")
    assert not setup.sink.transactions_to("ok-active@reader.test")
