"""HTTP calls the gateway makes to URLs it does not control (webhook receivers, an SMS
provider, attachment links): each URL is checked (dns_tools.public_targets: http or https,
public addresses only unless `allow_private`), the check shared for a few seconds among calls to
that URL, and the call connects to an address that passed, with the URL's host kept for the Host
header and for TLS (SNI and certificate). Redirects are not followed: they would lead past the
check.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import aiohttp
import yarl

from dns_tools.public_targets import Target, TargetRefused, check_target

RESPONSE_BYTES = 500  # of an answer's body kept (for `mailgate webhooks status`, logs)


@dataclass(frozen=True)
class HttpOptions:
    nameservers: Sequence[tuple[str, int]] = ()
    allow_private: bool = False
    timeout: float = 10.0  # seconds for a whole call, connecting to the end of the answer
    check_ttl: float = 5.0  # seconds a URL check is shared among calls to that URL


class CallFailed(Exception):
    """No answer came: the target was refused, could not be reached, or timed out."""


class CallRefused(CallFailed):
    """The URL failed the check: no call was made."""


class TooLarge(CallFailed):
    """The answer's body is longer than the caller's limit; reading stopped there."""


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    retry_after: float | None  # seconds, when the answer said


@dataclass(frozen=True)
class Fetched:
    """The answer to a GET: its body only when the status is 2xx."""

    status: int
    body: bytes
    content_type: str  # as the answer said, "" when it did not
    filename: str  # from Content-Disposition, "" when it named none


T = TypeVar("T")
# One request over a connection to a checked address: (session, URL with that address, headers,
# TLS name) -> the answer.
Exchange = Callable[[aiohttp.ClientSession, yarl.URL, dict[str, str], str | None], Awaitable[T]]


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass
class _Checked:
    expires: float
    target: Target | None = None
    refused: str = ""


@dataclass
class HttpSender:
    """POSTs to checked URLs: checks each URL (shared briefly among calls to it), connects to
    an address that passed, and keeps one connection pool per URL origin (a pool keyed by the
    address alone could carry one host's request over a TLS session verified for another).

    aiohttp rather than httpx: its client costs about a third of the CPU per call, which is
    what a dispatcher spends its time on."""

    options: HttpOptions
    _checks: dict[str, _Checked] = field(default_factory=dict)
    _sessions: dict[tuple[str, str, int], tuple[aiohttp.ClientSession, float]] = field(
        default_factory=dict
    )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        async def exchange(
            session: aiohttp.ClientSession, at: yarl.URL, sent: dict[str, str], tls: str | None
        ) -> Answer:
            return await _send(session, at, body, sent, tls)

        return await self._call(url, headers, exchange)

    async def get(self, url: str, limit: int, headers: dict[str, str] | None = None) -> Fetched:
        """GET `url`; a 2xx body longer than `limit` bytes is TooLarge, found while reading
        (or from Content-Length), never read further."""

        async def exchange(
            session: aiohttp.ClientSession, at: yarl.URL, sent: dict[str, str], tls: str | None
        ) -> Fetched:
            return await _fetch(session, at, sent, tls, limit)

        return await self._call(url, headers or {}, exchange)

    async def _call(self, url: str, headers: dict[str, str], exchange: Exchange[T]) -> T:
        target = await self._target(url)
        parsed = yarl.URL(url)
        headers = {**headers, "Host": parsed.host_port_subcomponent or target.host}
        tls_name = target.host if target.scheme == "https" else None
        session = self._session(target)
        failure = "no address"
        for address in target.addresses:
            try:
                async with asyncio.timeout(self.options.timeout):
                    return await exchange(session, parsed.with_host(address), headers, tls_name)
            except aiohttp.ClientConnectorError as error:
                failure = f"{address}: {error.os_error or error}"
                continue  # the next checked address
            except TimeoutError:
                raise CallFailed(f"timed out after {self.options.timeout:g}s") from None
            except aiohttp.ClientError as error:
                raise CallFailed(f"{type(error).__name__}: {error}") from None
        raise CallFailed(f"could not connect: {failure}")

    async def _target(self, url: str) -> Target:
        now = time.monotonic()
        checked = self._checks.get(url)
        if checked is None or checked.expires < now:
            checked = _Checked(now + self.options.check_ttl)
            try:
                checked.target = await check_target(
                    url, self.options.nameservers, self.options.allow_private
                )
            except TargetRefused as refused:
                checked.refused = refused.reason
            self._checks[url] = checked
        if checked.target is None:
            raise CallRefused(f"refused: {checked.refused}")
        return checked.target

    def _session(self, target: Target) -> aiohttp.ClientSession:
        key = (target.scheme, target.host, target.port)
        found = self._sessions.get(key)
        session = found[0] if found else None
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=self.options.timeout),
                trust_env=False,  # no proxy from the environment: we connect where we checked
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        self._sessions[key] = (session, time.monotonic())
        return session

    async def sweep(self, idle: float = 60.0) -> None:
        """Close the pools of origins not called for `idle` seconds; forget old checks."""
        now = time.monotonic()
        for key, (session, used) in list(self._sessions.items()):
            if now - used > idle:
                del self._sessions[key]
                await session.close()
        for url, checked in list(self._checks.items()):
            if checked.expires < now:
                del self._checks[url]

    async def close(self) -> None:
        for session, _ in self._sessions.values():
            await session.close()
        self._sessions.clear()


async def _send(
    session: aiohttp.ClientSession,
    url: yarl.URL,
    body: bytes,
    headers: dict[str, str],
    tls_name: str | None,
) -> Answer:
    async with session.post(
        url, data=body, headers=headers, allow_redirects=False, server_hostname=tls_name
    ) as response:
        kept = bytearray()  # read() returns what has arrived: read on to the bound or the end
        while len(kept) < RESPONSE_BYTES:
            chunk = await response.content.read(RESPONSE_BYTES - len(kept))
            if not chunk:
                break
            kept += chunk
        text = kept.decode("utf-8", "replace")
        return Answer(response.status, text, retry_after(response.headers.get("Retry-After")))


async def _fetch(
    session: aiohttp.ClientSession,
    url: yarl.URL,
    headers: dict[str, str],
    tls_name: str | None,
    limit: int,
) -> Fetched:
    async with session.get(
        url, headers=headers, allow_redirects=False, server_hostname=tls_name
    ) as response:
        if not 200 <= response.status < 300:
            return Fetched(response.status, b"", "", "")
        if response.content_length is not None and response.content_length > limit:
            raise TooLarge(f"{response.content_length} bytes, more than {limit}")
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"more than {limit} bytes")
        disposition = response.content_disposition
        filename = (disposition.filename or "") if disposition else ""
        return Fetched(
            response.status, bytes(body), response.headers.get("Content-Type", ""), filename
        )
