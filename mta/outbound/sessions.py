"""Outbound SMTP with aiosmtplib, behind mta/outbound/transport.py's interface: opening
sessions (EHLO, opportunistic STARTTLS), keeping them for reuse per destination host, closing
the ones left idle, and the SMTP transaction (MAIL, RCPT for each recipient, DATA), whose
replies go back to delivery one per recipient.

TLS follows Postfix's `may` level: encrypt when the server offers STARTTLS, without verifying
its certificate (an unverified channel still beats clear text, and refusing mail over it would
lose mail that Postfix delivers); when the handshake fails, deliver in clear text, and remember
that host for a while so that each session does not fail the same way first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiosmtplib

from mta.outbound.transport import Envelope, HostUnavailable, MailHost, Reply

log = logging.getLogger("mailgate.delivery")

TLS_FAILURE_MEMORY = 3600.0


def opportunistic_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class SessionOpenError(Exception):
    """The host could not be reached or would not start a session; try the next host."""

    def __init__(self, reply: str, code: int = 0) -> None:
        super().__init__(reply)
        self.reply = reply
        self.code = code


@dataclass
class Session:
    host: str
    port: int
    smtp: aiosmtplib.SMTP
    tls: bool
    last_used: float = field(default_factory=time.monotonic)
    transactions: int = 0

    @property
    def usable(self) -> bool:
        return self.smtp.is_connected

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.smtp.close()


@dataclass(frozen=True)
class SessionOptions:
    hostname: str
    connect_timeout: float = 30.0
    command_timeout: float = 300.0
    max_transactions: int = 1000  # a session is replaced after this many messages


class SessionPool:
    """An OutboundTransport: idle sessions per (host, port), reused for the next message to the
    same host."""

    def __init__(self, options: SessionOptions, idle_timeout: float) -> None:
        self.options = options
        self.idle_timeout = idle_timeout
        self._idle: dict[tuple[str, int], list[Session]] = {}
        self._tls_broken: dict[tuple[str, int], float] = {}
        self._tls_context = opportunistic_tls()

    def _take_idle(self, key: tuple[str, int]) -> Iterator[Session]:
        sessions = self._idle.get(key, [])
        while sessions:
            session = sessions.pop()
            if session.usable and time.monotonic() - session.last_used < self.idle_timeout:
                yield session
            else:
                session.close()

    async def send(self, to: MailHost, envelope: Envelope) -> list[Reply]:
        """The envelope's transaction on a session to `to`, reused when one is idle; a reused
        session gone stale before MAIL is replaced by a fresh one once."""
        last_error = ""
        for _ in range(2):
            try:
                session, reused = await self._get(to.host, to.port, to.address)
            except SessionOpenError as error:
                if error.code >= 500:  # a 5xx greeting: this host refuses us for good
                    return [Reply(error.code, error.reply)] * len(envelope.recipients)
                raise HostUnavailable(error.reply) from None
            try:
                replies = await transaction(session, envelope)
            except _StaleSession as error:
                self._discard(session)
                last_error = str(error)
                if reused:
                    continue
                break
            self._put(session) if session.usable else self._discard(session)
            return replies
        raise HostUnavailable(last_error)

    async def _get(self, host: str, port: int, address: str) -> tuple[Session, bool]:
        """A session to `host:port` (reused, or opened to `address`), and whether it was reused
        (a reused one may have gone stale: `send` retries once on a fresh session when it
        fails before DATA)."""
        for session in self._take_idle((host, port)):
            return session, True
        return await self.open(host, port, address), False

    def _put(self, session: Session) -> None:
        session.transactions += 1
        if not session.usable or session.transactions >= self.options.max_transactions:
            self._quit(session)
            return
        session.last_used = time.monotonic()
        self._idle.setdefault((session.host, session.port), []).append(session)

    def _discard(self, session: Session) -> None:
        session.close()

    def _quit(self, session: Session) -> None:
        async def quit_politely() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.smtp.quit(), 5)
            session.close()

        asyncio.get_running_loop().create_task(quit_politely())

    async def sweep(self) -> None:
        """Close sessions idle longer than the idle timeout."""
        now = time.monotonic()
        for key, sessions in list(self._idle.items()):
            keep = []
            for session in sessions:
                if now - session.last_used < self.idle_timeout and session.usable:
                    keep.append(session)
                else:
                    self._quit(session)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    async def close(self) -> None:
        for sessions in self._idle.values():
            for session in sessions:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(session.smtp.quit(), 2)
                session.close()
        self._idle.clear()

    async def open(self, host: str, port: int, address: str) -> Session:
        key = (host, port)
        try_tls = self._tls_broken.get(key, 0.0) < time.monotonic()
        try:
            return await self._open(host, port, address, try_tls)
        except _TlsFailed as failure:
            log.info("starttls failed host=%s port=%d error=%r; clear text", host, port, failure)
            self._tls_broken[key] = time.monotonic() + TLS_FAILURE_MEMORY
            return await self._open(host, port, address, try_tls=False)

    async def _open(self, host: str, port: int, address: str, try_tls: bool) -> Session:
        smtp = aiosmtplib.SMTP(
            hostname=address,
            port=port,
            local_hostname=self.options.hostname,
            timeout=self.options.command_timeout,
            start_tls=False,
        )
        try:
            await asyncio.wait_for(smtp.connect(), self.options.connect_timeout)
            await smtp.ehlo()
        except aiosmtplib.SMTPResponseException as error:
            smtp.close()
            raise SessionOpenError(f"{error.code} {error.message}", error.code) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            smtp.close()
            raise SessionOpenError(
                f"4.4.1 connection to {host}[{address}]:{port} failed: {error}"
            ) from None
        tls = False
        if try_tls and smtp.supports_extension("starttls"):
            try:
                await smtp.starttls(tls_context=self._tls_context, server_hostname=host)
                await smtp.ehlo()
                tls = True
            except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as error:
                smtp.close()
                raise _TlsFailed(str(error)) from None
        return Session(host, port, smtp, tls)


class _TlsFailed(Exception):
    pass


class _StaleSession(Exception):
    """The session was lost before MAIL: nothing was sent on it."""


async def transaction(session: Session, envelope: Envelope) -> list[Reply]:
    """MAIL, RCPT for each recipient, DATA: one reply per recipient."""
    smtp, host = session.smtp, session.host
    count = len(envelope.recipients)
    if envelope.international and not smtp.supports_extension("smtputf8"):
        # RFC 6531 3.4: such a message is not sent to a server that cannot take it (Postfix
        # bounces it the same way); nothing was sent, the session stays good.
        refused = f"550 5.6.7 SMTPUTF8 is required, but was not offered by host {host}"
        return [Reply(550, refused)] * count
    try:
        await smtp.mail(envelope.sender, options=mail_options(smtp, envelope), encoding="utf-8")
    except aiosmtplib.SMTPResponseException as error:
        await _reset(smtp)
        return [Reply(error.code, f"{error.code} {error.message}")] * count
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as error:
        raise _StaleSession(f"4.4.2 {host}: connection lost before MAIL: {error}") from None
    replies: list[Reply | None] = [None] * count
    try:
        for index, recipient in enumerate(envelope.recipients):
            try:
                await smtp.rcpt(recipient, encoding="utf-8")
            except aiosmtplib.SMTPResponseException as error:
                replies[index] = Reply(error.code, f"{error.code} {error.message}")
        if all(reply is not None for reply in replies):  # every recipient refused
            await _reset(smtp)
            return [reply for reply in replies if reply is not None]
        try:
            response = await smtp.data(envelope.content)
        except aiosmtplib.SMTPResponseException as error:
            return _complete(replies, Reply(error.code, f"{error.code} {error.message}"))
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as error:
        session.close()
        # After RCPT or during DATA the message may or may not have arrived: defer, as
        # Postfix does; a duplicate is better than a loss.
        lost = Reply(0, f"4.4.2 {host}: connection lost during the transaction: {error}")
        return _complete(replies, lost)
    return _complete(replies, Reply(response.code, f"{response.code} {response.message}"))


def _complete(replies: list[Reply | None], rest: Reply) -> list[Reply]:
    """`replies` with `rest` for each recipient that has none yet."""
    return [rest if reply is None else reply for reply in replies]


def mail_options(smtp: aiosmtplib.SMTP, envelope: Envelope) -> list[str]:
    """MAIL's parameters, for the extensions the server offers."""
    options = [f"SIZE={len(envelope.content)}"] if smtp.supports_extension("size") else []
    if smtp.supports_extension("8bitmime") and not envelope.content.isascii():
        options.append("BODY=8BITMIME")
    if envelope.international:  # offered: transaction() sends such a message nowhere else
        options.append("SMTPUTF8")
    return options


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await smtp.rset()
