"""Sending an SMS that mta/sms/text checked: one narrow interface, SmsTransport, with two
implementations. HttpProvider POSTs the message to the configured provider URL; NoTransport,
what a gateway without a provider has, refuses every message with 003's 1150 ("SMS not sent,
awaiting final contract").

The provider call is JSON `{"to": "+48600100200", "from": "Shop" or null, "text": "..."}` with
`Authorization: Bearer <sms_provider_token>` (none when the token is empty); null `from` is an
ECO message, sent from a number of the provider's choosing. A 2xx answer means the provider took
the message. The call goes through mta/checked_http as webhook calls do: the URL is checked
(public addresses only, unless `allow_private_targets`), the connection made to an address that
passed, no redirects followed.

No SMPP transport: the SMPP clients on PyPI are either synchronous (smpplib: a thread per bound
session inside an asyncio server) or young single-maintainer projects, and a bound SMPP session
is a long-lived connection of its own to run, re-bind and test against an SMPP server; an HTTP
adapter in front of an SMPP provider is the smaller thing to operate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from mta.checked_http import CallFailed, CallRefused, HttpOptions, HttpSender
from mta.sms.text import Sms, SmsCode, SmsError

USER_AGENT = "Mailgate-SMS/1"


@dataclass(frozen=True)
class Sent:
    """The provider took the message."""

    status: int  # its HTTP status
    response: str  # the start of its answer (a message id, say), for logs


class SendFailed(Exception):
    """The provider did not take the message. `temporary`: trying again later may help (no
    answer, a timeout, 408, 429, 5xx); otherwise the provider or the URL refused it."""

    def __init__(self, reason: str, temporary: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


class SmsTransport(Protocol):
    async def send(self, sms: Sms) -> Sent:
        """Hand the message on; SendFailed, or SmsError when there is no way to send at all."""
        ...

    async def close(self) -> None: ...


class NoTransport:
    """No provider configured: nothing is sent."""

    async def send(self, sms: Sms) -> Sent:
        raise SmsError(SmsCode.NOT_SENT, "no SMS provider is configured")

    async def close(self) -> None:
        pass


@dataclass
class HttpProvider:
    url: str
    token: str = field(repr=False)
    options: HttpOptions = field(default_factory=HttpOptions)
    _http: HttpSender = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._http = HttpSender(self.options)

    async def send(self, sms: Sms) -> Sent:
        body = json.dumps({"to": sms.to, "from": sms.sender, "text": sms.text}, ensure_ascii=False)
        headers = {"content-type": "application/json; charset=utf-8", "user-agent": USER_AGENT}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        try:
            answer = await self._http.post(self.url, body.encode(), headers)
        except CallRefused as refused:
            raise SendFailed(f"SMS provider URL {refused}", temporary=False) from None
        except CallFailed as failure:
            raise SendFailed(f"SMS provider: {failure}", temporary=True) from None
        if 200 <= answer.status < 300:
            return Sent(answer.status, answer.text)
        temporary = answer.status in (408, 429) or answer.status >= 500
        reason = f"SMS provider answered {answer.status}: {answer.text[:200]}"
        raise SendFailed(reason, temporary)

    async def close(self) -> None:
        await self._http.close()


def configured_transport(url: str, token: str, options: HttpOptions) -> SmsTransport:
    """The transport the settings describe: HttpProvider for a URL, NoTransport without."""
    return HttpProvider(url, token, options) if url else NoTransport()
