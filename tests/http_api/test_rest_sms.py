"""`POST /rest/sms` over real HTTP against `mailgate serve`, its provider a real HTTP receiver on
loopback: what the provider gets, sender names added and confirmed with the CLI, and every
error code of 003's "SMS messages" (1101-1109, 1150)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.http_api.conftest import Api, running_api
from tests.mta.test_webhooks import Receiver, serve_receiver

PATH = "/rest/sms"
TOKEN = "sms-provider-token-7d2e"
NUMBER = "+48600100200"


@pytest.fixture(scope="module")
def provider() -> Iterator[Receiver]:
    """The provider answers 200 while `healthy` is set (its path is /down), else 503."""
    receiver = Receiver()
    receiver.healthy.set()
    server = serve_receiver(receiver)
    yield receiver
    server.shutdown()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, provider: Receiver) -> Iterator[Api]:
    """The owner has "Shop" confirmed and "Pending" awaiting confirmation; the other account
    has "Elsewhere" confirmed."""
    env = {
        "MAILGATE_SMS_PROVIDER_URL": provider.url("/down"),
        "MAILGATE_SMS_PROVIDER_TOKEN": TOKEN,
        "MAILGATE_ALLOW_PRIVATE_TARGETS": "1",
    }
    with running_api(tmp_path_factory.mktemp("sms"), "sms.test", **env) as api:
        owner, other = str(api.user_id), str(api.other_user_id)
        for user, name, confirm in [(owner, "Shop", True), (owner, "Pending", False),
                                    (other, "Elsewhere", True)]:  # fmt: skip
            api.gateway.json("sms", "sender", "add", user, name)
            if confirm:
                api.gateway.json("sms", "sender", "confirm", user, name)
        yield api


def received(provider: Receiver) -> list[Any]:
    return [call.json for call in provider.to("/down")]


def test_a_pro_and_an_eco_sms_reach_the_provider(api: Api, provider: Receiver) -> None:
    before = len(provider.to("/down"))
    data = api.rest.ok(PATH, {"gsm": NUMBER, "text": "Your code: 1234 [ok]", "from": "Shop"})
    assert data == {"gsm": NUMBER, "parts": 1, "special": False}
    assert api.rest.ok(PATH, {"gsm": 600100200, "text": "Zażółć gęślą jaźń", "single": "1"}) == {
        "gsm": "600100200",
        "parts": 1,
        "special": True,
    }
    pro, eco = provider.to("/down")[before:]
    assert pro.json == {"to": NUMBER, "from": "Shop", "text": "Your code: 1234 [ok]"}
    assert pro.headers["authorization"] == f"Bearer {TOKEN}"
    assert eco.json == {"to": "600100200", "from": None, "text": "Zażółć gęślą jaźń"}


def test_form_data_is_read_like_json(api: Api, provider: Receiver) -> None:
    answer = api.rest.post_form(PATH, [("gsm", "48600100200"), ("text", "a" * 161)])
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {"gsm": "48600100200", "parts": 2, "special": False}
    assert received(provider)[-1]["text"] == "a" * 161


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"text": "Hi"}, 1101),
        ({"gsm": "60010020", "text": "Hi"}, 1101),
        ({"gsm": "600 100 200", "text": "Hi"}, 1101),
        ({"gsm": NUMBER}, 1102),
        ({"gsm": NUMBER, "text": " \n"}, 1102),
        ({"gsm": NUMBER, "text": "a" * 460}, 1103),
        ({"gsm": NUMBER, "text": "€" * 230}, 1103),  # 460 septets
        ({"gsm": NUMBER, "text": "ą" * 201}, 1104),
        ({"gsm": NUMBER, "text": "Hi", "from": "Twelve chars"}, 1105),
        ({"gsm": NUMBER, "text": "Hi", "from": "Unknown"}, 1105),  # never added
        ({"gsm": NUMBER, "text": "Hi", "from": "Elsewhere"}, 1105),  # the other account's
        ({"gsm": NUMBER, "text": "Hi", "from": "shop"}, 1105),  # not as it was confirmed
        ({"gsm": NUMBER, "text": "Hi", "from": "Pending"}, 1106),
        ({"gsm": NUMBER, "text": "Hi", "single": "2"}, 1107),
        ({"gsm": NUMBER, "text": ["Hi"]}, 1107),
        # A lone surrogate ("caf\udce9") never reaches the action: /rest's JSON reader
        # answers 1002 for it (tests/http_api/test_malformed_input.py).
        ({"gsm": NUMBER, "text": "a" * 161, "single": 1}, 1108),
        ({"gsm": NUMBER, "text": "ą" * 71, "single": "1"}, 1109),
    ],
)
def test_each_refusal_has_its_code(
    api: Api, provider: Receiver, data: dict[str, Any], code: int
) -> None:
    before = len(provider.to("/down"))
    assert api.rest.error(PATH, data) == (400, [code])
    assert len(provider.to("/down")) == before  # nothing was sent


def test_a_form_not_in_utf_8_is_an_error_in_coding(api: Api) -> None:
    text = urllib.parse.quote("Zażółć".encode("iso-8859-2"))  # percent-escapes of Latin-2
    body = f"gsm=600100200&text={text}".encode()
    answer = api.rest.request("POST", PATH, body, "application/x-www-form-urlencoded")
    assert answer.status_code == 400
    assert [error["code"] for error in answer.json()["errors"]] == [1107]


def test_a_provider_that_fails_is_a_server_error(api: Api, provider: Receiver) -> None:
    provider.healthy.clear()
    try:
        answer = api.rest.post(PATH, {"gsm": NUMBER, "text": "Hi"})
    finally:
        provider.healthy.set()
    assert answer.status_code == 502
    [error] = answer.json()["errors"]
    assert error["code"] == 500 and "try again later" in error["message"]
    assert TOKEN not in json.dumps(answer.json())


def test_without_a_provider_no_sms_is_sent(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_api(tmp_path_factory.mktemp("sms-none"), "sms.test") as api:
        assert api.rest.error(PATH, {"gsm": NUMBER, "text": "Hi"}) == (400, [1150])
        # The request is checked first: its own errors come before 1150.
        assert api.rest.error(PATH, {"gsm": "1", "text": "Hi"}) == (400, [1101])
