"""The SMTP server: aiosmtpd speaks the protocol, `SubmissionHandler` asks the submission path.

Three listener roles:
- MX (port 25): AUTH optional (after STARTTLS); unauthenticated mail only to inbound relay domains.
- SUBMISSION (587, 2525): STARTTLS first, then AUTH, unless the client is in a relay network.
- SMTPS (465): TLS from the first byte, then AUTH, unless the client is in a relay network.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import functools
import inspect
import ipaddress
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import AnyStr, cast

from aiosmtpd.smtp import (
    ALLOWED_BEFORE_STARTTLS,
    MISSING,
    SMTP,
    AuthResult,
    Envelope,
    Session,
    syntax,
)

from mta import metrics, replies
from mta.replies import Refused, own_enhanced_code
from mta.smtp.auth_throttle import AuthThrottle
from mta.smtp.paths import parse_path
from mta.smtp.starttls import upgrade_to_tls
from mta.submission.assembly import protocol_name
from mta.submission.policy import in_networks, is_address, is_loopback, is_null_sender
from mta.submission.submit import (
    Gateway,
    Origin,
    Recipients,
    SubmissionRefused,
    admit,
    sender_by_address,
    sender_by_domain_id,
    submit,
)
from storage.credentials import AuthenticatedCredential, authenticate
from storage.domains import SenderContext
from storage.password_checks import VerificationBusy
from storage.queue import QueueWriteError

log = logging.getLogger("mailgate.smtp")

# aiosmtpd logs every command line at INFO; its level is raised so that only our summary lines
# (one per message or refusal, key=value) reach the log.
logging.getLogger("mail.log").setLevel(logging.WARNING)

# aiosmtpd's own words for AUTH before TLS, which it no longer decides (see smtp_STARTTLS).
AUTH_NEEDS_TLS = "538 5.7.11 Encryption required for requested authentication mechanism"
LOGGED_CHARS = 100  # of a value a client chose (an address, a username), in a log line
NO_STAGE = "command"  # a refusal before any command runs: an unknown or overlong command line


class Role(enum.StrEnum):
    MX = "mx"
    SUBMISSION = "submission"
    SMTPS = "smtps"


@dataclass(frozen=True)
class SmtpOptions:
    """How the listeners speak; the message limits are the gateway's (`Gateway`)."""

    hostname: str
    timeout: float
    relay_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    allow_plaintext_auth_on_loopback: bool


class MailSession(Session):
    """aiosmtpd sets the deprecated `login_data` after every AUTH and logs a warning each time."""

    login_data = None


class MailEnvelope(Envelope):
    """An envelope that also carries the sender decided at MAIL FROM (None: inbound mail) and
    the recipients the submission path admitted at RCPT."""

    def __init__(self) -> None:
        super().__init__()
        self.sender: SenderContext | None = None
        self.recipients = Recipients()


class SubmissionHandler:
    """aiosmtpd hooks: each asks the submission path and turns its answer into a reply."""

    def __init__(self, gateway: Gateway, options: SmtpOptions, throttle: AuthThrottle) -> None:
        self.gateway = gateway
        self.options = options
        self.throttle = throttle

    async def handle_EHLO(
        self, server: MailgateSMTP, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:  # fmt: skip
        session.host_name = hostname
        offered = [line for line in responses[:-1] if server.offers(line)]
        return [*offered, "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_MAIL(
        self, server: MailgateSMTP, session: Session, envelope: MailEnvelope, address: str,
        mail_options: list[str],
    ) -> str:  # fmt: skip
        refusal = address_syntax_refusal(address, envelope.smtp_utf8, replies.BAD_SENDER)
        if refusal and not is_null_sender(address):  # <> is no address, and may send
            return refusal.noting(sender=address)
        credential: AuthenticatedCredential | None = session.auth_data
        try:
            if session.authenticated and credential is not None:
                sender = await sender_by_domain_id(self.gateway, credential.domain_id, address)
            elif server.in_relay_network:
                sender = await sender_by_address(self.gateway, address)
            elif server.role is not Role.MX:
                return replies.AUTH_REQUIRED.noting(sender=address)
            else:
                sender = None
        except SubmissionRefused as refused:
            return refused.reply.noting(sender=address)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.sender = sender
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: MailgateSMTP, session: Session, envelope: MailEnvelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        refusal = address_syntax_refusal(address, envelope.smtp_utf8, replies.BAD_RECIPIENT)
        if refusal:
            return refusal.noting(recipient=address)
        try:
            await admit(self.gateway, envelope.sender, envelope.recipients, address)
        except SubmissionRefused as refused:
            return refused.reply.noting(recipient=address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(
        self, server: MailgateSMTP, session: Session, envelope: MailEnvelope
    ) -> str:
        origin = Origin(
            helo=session.host_name or "unknown",
            client_ip=server.client_ip,
            protocol=protocol_name(
                esmtp=session.extended_smtp,
                tls=server.is_tls,
                authenticated=bool(session.authenticated),  # None before any AUTH
                utf8=envelope.smtp_utf8,
            ),
        )
        content = envelope.original_content or b""
        mail_from = envelope.mail_from
        assert mail_from is not None  # aiosmtpd answers DATA before MAIL FROM with 503 itself
        try:
            queue_id = await submit(
                self.gateway, envelope.sender, mail_from, envelope.recipients, content,
                origin, source="smtp",
            )  # fmt: skip
        except SubmissionRefused as refused:
            return refused.reply.noting(sender=mail_from)
        except QueueWriteError:
            return replies.TEMPORARY_FAILURE.noting(sender=mail_from)
        metrics.SMTP_ACCEPTED.labels("outbound" if envelope.sender else "inbound").inc()
        log.info(
            "queued message_id=%s client=%s from=<%s> rcpts=%d size=%d",
            queue_id, server.client_ip, envelope.mail_from, len(envelope.rcpt_tos), len(content),
        )  # fmt: skip
        return replies.queued(str(queue_id))

    def __dir__(self) -> list[str]:
        return _hook_names(type(self), ("handle_", "auth_"))

    async def handle_exception(self, error: Exception) -> str:
        log.exception("smtp session error: %s", type(error).__name__)
        return replies.INTERNAL_ERROR

    async def check_login(self, server: MailgateSMTP, login: bytes, password: bytes) -> AuthResult:
        """Verify credentials, slowing and then locking out addresses that keep failing (counted
        in the database: across worker processes, nodes and connections). A refusal's log line
        names the username tried (never the password)."""
        ip = server.client_ip
        tried = login.decode("utf-8", "backslashreplace")
        if await self.throttle.is_locked(ip):
            await server.refuse_and_close(replies.AUTH_LOCKED.noting(username=tried))
            return AuthResult(success=False, handled=True)
        try:
            username, secret = login.decode("utf-8"), password.decode("utf-8")
        except UnicodeDecodeError:
            credential = None
        else:
            try:
                credential = await authenticate(
                    self.gateway.db, username, secret, self.throttle.checks
                )
            except VerificationBusy:  # not the client's failure: not counted
                return AuthResult(
                    success=False, handled=False, message=replies.AUTH_BUSY.noting(username=tried)
                )
        if credential is None:
            return await self._login_failed(server, tried)
        log.info("auth ok client=%s username=%s", ip, credential.username)
        return AuthResult(success=True, auth_data=credential, message=replies.AUTH_OK)

    async def _login_failed(self, server: MailgateSMTP, tried: str) -> AuthResult:
        """Count the failure; answer it late when the address keeps failing, or lock it out."""
        metrics.SMTP_AUTH_FAILURES.inc()
        failure = await self.throttle.failed(server.client_ip)
        if failure.delay:
            await asyncio.sleep(failure.delay)
        if failure.locked:
            await server.refuse_and_close(replies.AUTH_LOCKED.noting(username=tried))
            return AuthResult(success=False, handled=True)
        refusal = replies.AUTH_INVALID.noting(username=tried)
        return AuthResult(success=False, handled=False, message=refusal)


_HOOK_NAMES: dict[tuple[type, tuple[str, ...]], list[str]] = {}


def _hook_names(cls: type, prefixes: tuple[str, ...]) -> list[str]:
    """The names aiosmtpd looks for. It scans `dir()` of the protocol and the handler with
    `inspect.getmembers` for every new connection; with a connection per message (as
    smtp-source and many applications do) that scan cost 10-17% of the CPU. Listing only the
    hook names in `__dir__` makes it cheap; nothing else relies on `dir()` of these objects."""
    names = _HOOK_NAMES.get((cls, prefixes))
    if names is None:  # a dict, not functools.cache: mypy takes type[X] for unhashable
        names = _HOOK_NAMES[(cls, prefixes)] = [n for n in dir(cls) if n.startswith(prefixes)]
    return names


def address_syntax_refusal(address: str, smtputf8: bool, bad_syntax: Refused) -> Refused | None:
    """What is not an address as the submission path reads one (`policy.is_address`: bytes
    that are not UTF-8, kept by aiosmtpd as lone surrogates, or a control character) is bad
    syntax; UTF-8 without the SMTPUTF8 parameter is refused as RFC 6531 3.4 asks."""
    if not is_address(address):
        return bad_syntax
    if not smtputf8 and not address.isascii():
        return replies.NEEDS_SMTPUTF8
    return None


def shown(text: str, limit: int = LOGGED_CHARS) -> str:
    """Text a client chose, as a log line carries it: quoted and escaped as repr() does it (no
    control character or line break gets through) and cut at `limit` characters."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


# An `smtp_*` command method: aiosmtpd calls it with the command's argument (None for none).
SmtpCommand = Callable[["MailgateSMTP", str | None], Awaitable[None]]


def _staged(command: str, method: SmtpCommand) -> SmtpCommand:
    """`method` run as the current stage. On a port that wants STARTTLS first, only the
    commands RFC 3207 allows before it run; the others are refused here, with their stage."""
    stage = command.lower()

    @functools.wraps(method)
    async def run(self: MailgateSMTP, arg: str | None) -> None:
        self.stage = stage
        if self.tls_first and not self.is_tls and command not in ALLOWED_BEFORE_STARTTLS:
            await self.push(replies.STARTTLS_REQUIRED)
        else:
            await method(self, arg)
        self.stage = NO_STAGE

    return run


def _commands_staged(cls: type[MailgateSMTP]) -> type[MailgateSMTP]:
    """Every `smtp_*` command of the class wrapped by `_staged`, once, at import."""
    for name in dir(cls):
        if name.startswith("smtp_"):
            setattr(cls, name, _staged(name.removeprefix("smtp_"), getattr(cls, name)))
    return cls


@_commands_staged
class MailgateSMTP(SMTP):
    """aiosmtpd's protocol with Mailgate's listener roles, async AUTH and enhanced codes. Every
    4xx/5xx reply, ours or aiosmtpd's, is logged (one line) and counted by stage and reason as
    it is written (`push`)."""

    def __init__(
        self,
        handler: SubmissionHandler,
        role: Role,
        tls_context: ssl.SSLContext | None,
        registry: set[MailgateSMTP],
    ) -> None:
        options = handler.options
        super().__init__(
            handler,
            hostname=options.hostname,
            ident="Mailgate ESMTP",
            data_size_limit=handler.gateway.max_message_size,  # read no more than may be sent
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls_context if role is not Role.SMTPS else None,
            require_starttls=False,  # decided in _staged, where the refusal gets its stage
            timeout=options.timeout,
            auth_required=False,
            auth_require_tls=False,  # decided per connection: auth_requires_tls
            authenticator=_never_called,
            command_call_limit=None,
        )
        self.handler = handler
        self.role = role
        self.registry = registry
        self.tls_first = role is Role.SUBMISSION and bool(tls_context)
        self.stage = NO_STAGE
        self.client_ip = ""
        self.implicit_tls = False
        self.tls_started = False  # by STARTTLS
        self.auth_requires_tls = True
        self.in_relay_network = False
        self.data_done = asyncio.Event()
        self.data_done.set()
        self.closing = False
        self._greeting_pending = True  # the greeting carries no enhanced code (RFC 2034)
        self._in_helo = False

    def __dir__(self) -> list[str]:
        return _hook_names(type(self), ("smtp_", "auth_"))

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """Undocumented, but the one parser smtp_MAIL and smtp_RCPT call (aiosmtpd 1.4.6,
        pinned <1.5; tests/mta/test_starttls.py checks it): ours is the fast path."""
        return parse_path(arg)

    def _create_session(self) -> MailSession:  # documented for subclasses to override
        return MailSession(self.loop)

    def _create_envelope(self) -> MailEnvelope:  # documented for subclasses to override
        return MailEnvelope()

    @property
    def is_tls(self) -> bool:
        return self.implicit_tls or self.tls_started

    def offers(self, ehlo_line: str) -> bool:
        """Whether an extension aiosmtpd lists in EHLO is on offer here: STARTTLS once TLS is
        on, AUTH where it needs TLS first (aiosmtpd is told neither: see smtp_STARTTLS)."""
        if ehlo_line == "250-STARTTLS":
            return not self.is_tls
        if ehlo_line.startswith("250-AUTH "):
            return self.is_tls or not self.auth_requires_tls
        return True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if not first:
            return
        peer = transport.get_extra_info("peername") or ("", 0)
        self.client_ip = str(peer[0])
        self.implicit_tls = transport.get_extra_info("ssl_object") is not None
        options = self.handler.options
        self.in_relay_network = in_networks(self.client_ip, options.relay_networks)
        metrics.SMTP_SESSIONS.labels(self.role.value).inc()
        loopback_ok = options.allow_plaintext_auth_on_loopback and is_loopback(self.client_ip)
        self.auth_requires_tls = not (self.implicit_tls or loopback_ok)
        if loopback_ok:  # an application on this host may submit on 587/2525 without STARTTLS
            self.tls_first = False
        self.registry.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.registry.discard(self)
        super().connection_lost(error)

    async def push(self, status: AnyStr) -> None:
        if not isinstance(status, str):
            await super().push(status)
            return
        reply = status
        if self._greeting_pending:
            self._greeting_pending = False
        elif not self._in_helo:
            reply = replies.with_enhanced_code(status)
        if reply[:1] in ("4", "5"):
            self._refused(reply, status)
        await super().push(reply)

    def _refused(self, reply: str, decided: str) -> None:
        """One log line and one count per refusal, with the reason it was decided for: ours
        carry theirs (`Refused`), aiosmtpd's get `builtin_reason`."""
        if isinstance(decided, Refused):
            reason, fields = decided.reason, decided.fields
        else:
            reason, fields = replies.builtin_reason(reply), {}
        envelope = self.envelope
        if "sender" not in fields and envelope is not None and envelope.mail_from:
            fields = {"sender": envelope.mail_from, **fields}
        metrics.refused(self.stage, reply, reason)
        log.info(
            "refused stage=%s client=%s reason=%s code=%s enhanced=%s%s reply=%s",
            self.stage, self.client_ip, reason, reply[:3], own_enhanced_code(reply) or "-",
            "".join(f" {name}={shown(value)}" for name, value in fields.items()),
            shown(reply, 2 * LOGGED_CHARS),
        )  # fmt: skip

    async def _raw(self, coroutine: Awaitable[object]) -> None:
        """EHLO/HELO replies carry no enhanced codes (RFC 2034)."""
        self._in_helo = True
        try:
            await coroutine
        finally:
            self._in_helo = False

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        await self._raw(super().smtp_EHLO(hostname))

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str) -> None:
        await self._raw(super().smtp_HELO(hostname))

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        """STARTTLS through the event loop's own TLS (uvloop's, in C) rather than the pure-Python
        `asyncio.sslproto` that aiosmtpd wires by hand: the same protocol, less CPU per record.
        aiosmtpd never learns that TLS is on (its `_tls_protocol` stays None): what it would
        decide from that, the EHLO list and AUTH's 538, is decided here (`offers`, smtp_AUTH)."""
        if arg:
            await self.push(replies.STARTTLS_SYNTAX)
            return
        if not self.tls_context or self.is_tls:
            await self.push(replies.TLS_UNAVAILABLE)
            return
        await self.push("220 2.0.0 Ready to start TLS")
        plain = self.transport
        try:
            secure = await upgrade_to_tls(self, self.tls_context)
        except (OSError, ssl.SSLError, ConnectionError) as error:
            log.info("starttls failed client=%s error=%r", self.client_ip, error)
            if plain is not None:
                plain.close()
            return
        if secure is None:
            return
        # RFC 3207 4.2: forget everything learned before TLS (the input was dropped before the
        # handshake; here a new session and envelope).
        self.transport = secure
        self.tls_started = True
        self.envelope = self._create_envelope()
        peer = self.session.peer if self.session else None
        self.session = self._create_session()
        self.session.peer = peer
        self.session.ssl = {"ssl_object": secure.get_extra_info("ssl_object")}

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        if await self.handler.throttle.is_locked(self.client_ip):
            await self.refuse_and_close(replies.AUTH_LOCKED)
            return
        session = self.session
        greeted = session is not None and session.host_name and session.extended_smtp
        if greeted and self.auth_requires_tls and not self.is_tls:  # where aiosmtpd checks it
            await self.push(AUTH_NEEDS_TLS)
            return
        await super().smtp_AUTH(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        self.data_done.clear()
        try:
            await super().smtp_DATA(arg)
        finally:
            self.data_done.set()
        if self.closing:
            await self.refuse_and_close(replies.SHUTTING_DOWN)

    async def refuse_and_close(self, reply: str) -> None:
        await self.push(reply)
        if self.transport is not None:
            self.transport.close()

    async def auth_PLAIN(self, _: SMTP, args: list[str]) -> AuthResult:
        blob = await self._initial_response(args, "")
        if blob is None:
            return AuthResult(success=False, handled=True)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await self.push(replies.AUTH_BAD_PLAIN)
            return AuthResult(success=False, handled=True)
        return await self.handler.check_login(self, parts[1], parts[2])

    async def auth_LOGIN(self, _: SMTP, args: list[str]) -> AuthResult:
        login = await self._initial_response(args, "Username:")
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await self._challenge("Password:")
        if password is None:
            return AuthResult(success=False, handled=True)
        return await self.handler.check_login(self, login, password)

    async def _initial_response(self, args: list[str], challenge: str) -> bytes | None:
        if len(args) == 1:
            return await self._challenge(challenge)
        if args[1] == "=":
            return b""
        try:
            return base64.b64decode(args[1], validate=True)
        except binascii.Error:
            await self.push(replies.AUTH_BAD_BASE64)
            return None

    async def _challenge(self, text: str) -> bytes | None:
        response = await self.challenge_auth(text)
        return None if response is MISSING else response


def _never_called(*_: object) -> AuthResult:
    """aiosmtpd requires an authenticator; ours is asynchronous (see check_login)."""
    return AuthResult(success=False, handled=False)


# aiosmtpd inspects the EHLO hook's signature on every connection; a stored one is read at once.
SubmissionHandler.handle_EHLO.__signature__ = inspect.signature(  # type: ignore[attr-defined]
    SubmissionHandler.handle_EHLO
)


def protocol_factory(
    handler: SubmissionHandler,
    role: Role,
    tls_context: ssl.SSLContext | None,
    registry: set[MailgateSMTP],
) -> Callable[[], MailgateSMTP]:
    return lambda: MailgateSMTP(handler, role, tls_context, registry)


async def close_sessions(registry: Iterable[MailgateSMTP], grace: float) -> None:
    """Shutdown: idle sessions get 421 at once; sessions inside DATA finish their message."""
    sessions = list(registry)
    for session in sessions:
        session.closing = True
        if session.data_done.is_set() and session.transport is not None:
            # a connected stream's transport; aiosmtpd declares the BaseTransport it is given
            transport = cast(asyncio.WriteTransport, session.transport)
            transport.write(f"{replies.SHUTTING_DOWN}\r\n".encode())
            transport.close()
    busy = [session.data_done.wait() for session in sessions if not session.data_done.is_set()]
    if busy:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*busy), grace)
