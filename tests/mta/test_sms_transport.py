"""The SMS transports: the HTTP provider adapter POSTs to a real receiver on loopback (allowed
as a private target), a loopback provider is refused without that permission, and a gateway
without a provider refuses with 1150."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from mta.checked_http import HttpOptions
from mta.sms.text import SmsCode, SmsError, check_request
from mta.sms.transport import HttpProvider, NoTransport, SendFailed, configured_transport
from tests.conftest import free_port
from tests.mta.test_webhooks import Receiver, serve_receiver

LOOPBACK = HttpOptions(allow_private=True, timeout=5.0)
TOKEN = "sms-token-4f1c9a"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = serve_receiver(receiver)
    yield receiver
    server.shutdown()


@pytest.fixture
async def provider(receiver: Receiver) -> AsyncIterator[HttpProvider]:
    provider = HttpProvider(receiver.url("/ok"), TOKEN, LOOPBACK)
    yield provider
    await provider.close()


async def test_the_provider_gets_the_message_as_json_with_the_bearer_token(
    receiver: Receiver, provider: HttpProvider
) -> None:
    sent = await provider.send(check_request("+48600100200", "Zażółć [gęślą]", "Shop"))
    assert (sent.status, sent.response) == (200, "ok")
    [call] = receiver.to("/ok")
    assert call.json == {"to": "+48600100200", "from": "Shop", "text": "Zażółć [gęślą]"}
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    assert call.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_an_eco_message_has_no_sender(receiver: Receiver, provider: HttpProvider) -> None:
    await provider.send(check_request("600100200", "Hello"))
    assert receiver.to("/ok")[0].json == {"to": "600100200", "from": None, "text": "Hello"}


async def send_once(url: str, token: str = TOKEN, options: HttpOptions = LOOPBACK) -> None:
    provider = HttpProvider(url, token, options)
    try:
        await provider.send(check_request("600100200", "Hello"))
    finally:
        await provider.close()


async def failure(url: str, options: HttpOptions = LOOPBACK) -> SendFailed:
    with pytest.raises(SendFailed) as caught:
        await send_once(url, options=options)
    return caught.value


async def test_without_a_token_no_authorization_is_sent(receiver: Receiver) -> None:
    await send_once(receiver.url("/ok"), token="")
    assert "authorization" not in receiver.to("/ok")[0].headers


@pytest.mark.parametrize(
    ("path", "status", "temporary"), [("/gone", 410, False), ("/down", 503, True)]
)
async def test_a_refusing_provider_fails_the_send(
    receiver: Receiver, path: str, status: int, temporary: bool
) -> None:
    failed = await failure(receiver.url(path))
    assert failed.temporary is temporary
    assert failed.reason == f"SMS provider answered {status}: ok"
    assert len(receiver.to(path)) == 1


async def test_a_private_provider_is_refused_unless_allowed(receiver: Receiver) -> None:
    failed = await failure(receiver.url("/ok"), HttpOptions())
    assert failed.temporary is False
    assert "loopback" in failed.reason
    assert receiver.calls == []


async def test_an_unreachable_provider_is_a_temporary_failure() -> None:
    failed = await failure(f"http://127.0.0.1:{free_port()}/sms")
    assert failed.temporary is True
    assert "could not connect" in failed.reason


async def test_without_a_provider_nothing_is_sent() -> None:
    transport = configured_transport("", TOKEN, LOOPBACK)
    assert isinstance(transport, NoTransport)
    with pytest.raises(SmsError) as caught:
        await transport.send(check_request("600100200", "Hello"))
    assert caught.value.code == SmsCode.NOT_SENT


def test_the_token_stays_out_of_repr() -> None:
    transport = configured_transport("https://sms.example.net/send", TOKEN, LOOPBACK)
    assert isinstance(transport, HttpProvider)
    assert TOKEN not in repr(transport)
