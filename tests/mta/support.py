"""Helpers for the SMTP tests: TLS client contexts, a raw-socket SMTP session, reply checks and
reads of what the gateway stored."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import re
import smtplib
import socket
import ssl
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import NamedTuple

from storage.domains import SenderContext
from storage.models import DomainStatus, UserStatus
from tests.conftest import Gateway

CLIENT_NAME = "client.example"
FRIEND = "friend@example.org"  # the usual recipient
QUEUED = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9a-f-]{36})$")
ENHANCED = re.compile(r"^([245])\d\d[ -]\1\.\d{1,3}\.\d{1,3}(?: |$)")


def client_tls() -> ssl.SSLContext:
    """A client context that accepts the gateway's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def text(reply: tuple[int, bytes | str]) -> str:
    """`(250, b'2.1.0 Ok')` -> `'250 2.1.0 Ok'` (smtplib, aiosmtplib and RawSession replies)."""
    code, message = reply
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{code} {message}"


def expect(reply: tuple[int, bytes | str], prefix: str) -> str:
    """Assert that a reply starts with `prefix` (code, enhanced code, text); returns it."""
    got = text(reply)
    assert got.startswith(prefix), f"expected {prefix!r}, got {got!r}"
    return got


def queued_id(reply: tuple[int, bytes | str]) -> uuid.UUID:
    """The queue id of a `250 2.0.0 Ok: queued as <uuid>` reply (asserting that form)."""
    got = text(reply)
    match = QUEUED.match(got)
    assert match, f"expected '250 2.0.0 Ok: queued as <uuid>', got {got!r}"
    return uuid.UUID(match.group(1))


def plain_blob(username: str, password: str) -> str:
    return base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode("ascii")


def smtp_auth(
    smtp: smtplib.SMTP, mechanism: str, username: str, password: str
) -> tuple[int, bytes]:
    """AUTH with one chosen mechanism (smtplib's login() picks its own); returns the reply."""
    smtp.user, smtp.password = username, password
    authobject = {"PLAIN": smtp.auth_plain, "LOGIN": smtp.auth_login}[mechanism]
    try:
        return smtp.auth(mechanism, authobject)
    except smtplib.SMTPAuthenticationError as error:
        return error.smtp_code, error.smtp_error


@contextlib.contextmanager
def submission(port: int, source: str | None = None) -> Iterator[smtplib.SMTP]:
    """An smtplib session on a STARTTLS port, after EHLO, STARTTLS and EHLO again."""
    with smtplib.SMTP(
        "127.0.0.1", port, local_hostname=CLIENT_NAME, timeout=15,
        source_address=(source, 0) if source else None,
    ) as smtp:  # fmt: skip
        smtp.ehlo()
        expect(smtp.starttls(context=client_tls()), "220 2.0.0")
        smtp.ehlo()
        yield smtp


@contextlib.contextmanager
def logged_in(port: int, username: str, password: str) -> Iterator[smtplib.SMTP]:
    with submission(port) as smtp:
        expect(smtp_auth(smtp, "PLAIN", username, password), "235 2.7.0")
        yield smtp


def send(
    smtp: smtplib.SMTP, mail_from: str, content: bytes, recipients: Sequence[str] = (FRIEND,)
) -> tuple[int, bytes]:
    """One transaction whose every step but the last must succeed; returns the DATA reply."""
    expect(smtp.mail(mail_from), "250 2.1.0")
    for recipient in recipients:
        expect(smtp.rcpt(recipient), "250 2.1.5")
    return smtp.data(content)


def message(
    sender: str, to: str = FRIEND, subject: str = "Hello", body: str = "Hi.",
    extra: str = "",
) -> bytes:  # fmt: skip
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}\r\n{body}\r\n").encode()


class Reply(NamedTuple):
    code: int
    message: str


class RawSession:
    """SMTP over a plain socket: for pipelining, raw bytes and watching every reply."""

    def __init__(self, port: int, implicit_tls: bool = False, source: str | None = None) -> None:
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=15, source_address=(source, 0) if source else None
        )
        if implicit_tls:
            self.sock = client_tls().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")
        self.replies: list[str] = []
        self.greeting = self.reply()

    def __enter__(self) -> RawSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> Reply:
        """Read one (possibly multi-line) reply; the whole of it is kept in `replies`."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError(f"connection closed; replies so far: {self.replies}")
            decoded = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(decoded)
            if decoded[3:4] != "-":
                break
        self.replies.extend(lines)
        return Reply(int(lines[-1][:3]), "\n".join(line[4:] for line in lines))

    def command(self, line: bytes | str) -> Reply:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def starttls(self) -> None:
        expect(self.command("STARTTLS"), "220 2.0.0")
        self.wrap_tls()

    def wrap_tls(self) -> None:
        """The client side of the TLS handshake, on the open connection."""
        self.sock = client_tls().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")

    def closed_by_server(self) -> bool:
        """True when the server has closed the connection (reads end of stream)."""
        return self.file.read() == b""


@dataclass(frozen=True)
class Stored:
    raw: bytes
    mail_from: str
    deliveries: list[tuple[str, str]]
    events: list[tuple[str, str]]


def stored(gateway: Gateway, queue_id: uuid.UUID) -> Stored | None:
    """The queued message with its deliveries (recipient, status) and events (type, recipient)."""
    found = gateway.sql("SELECT raw, mail_from FROM messages WHERE id = ?", queue_id.hex)
    if not found:
        return None
    [(raw, mail_from)] = found
    deliveries = gateway.sql(
        "SELECT recipient, status FROM deliveries WHERE message_id = ? ORDER BY id", queue_id.hex
    )
    events = gateway.sql(
        "SELECT type, recipient FROM events WHERE message_id = ? ORDER BY id", queue_id.hex
    )
    return Stored(bytes(raw), mail_from, deliveries, events)


def must_be_stored(gateway: Gateway, queue_id: uuid.UUID) -> Stored:
    found = stored(gateway, queue_id)
    assert found is not None, f"message {queue_id} is not in the queue"
    return found


def messages_containing(gateway: Gateway, marker: bytes) -> int:
    """How many stored messages contain `marker` (to show that a refused message is absent)."""
    return sum(marker in bytes(raw) for (raw,) in gateway.sql("SELECT raw FROM messages"))


def marker() -> str:
    """A unique token to find a message by its content."""
    return f"marker-{uuid.uuid4().hex}"


def parsed(raw: bytes) -> EmailMessage:
    """A received message, parsed with the standard library's modern policy."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


# A sender domain that may send (Enabled, its account active and trusted), for in-process tests
# of the rules that take a SenderContext.
ENABLED_SENDER = SenderContext(
    domain_id=7,
    domain="shop.test",
    domain_status=DomainStatus.ENABLED,
    user_id=3,
    user_status=UserStatus.ACTIVE,
    user_trusted=True,
    dkim_selector="s1",
    dkim_private_key="",
)
