"""A destination MX host for delivery tests: a real aiosmtpd server on a loopback port whose
answers depend on the recipient's local part.

    ok-...         accepted
    once-...       451 the first time it is offered, accepted afterwards
    busy-...       451 every time
    unknown-...    550 5.1.1 (no such user)
    spam-...       550 5.7.1 (blocked as spam)
    drop-...       the connection is closed at RCPT
    slow-...       accepted after two seconds

`gate`, cleared, holds every DATA answer until it is set again: deliveries stay in flight while
a test acts (pauses a campaign, restarts the gateway).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    recipients: tuple[str, ...]
    content: bytes
    peer: str
    tls: bool
    mail_options: tuple[str, ...] = ()


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    offered: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    quits: int = 0
    ehlo_names: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list[str]:
        with self.lock:
            self.sessions += 1 if session.host_name is None else 0
            self.ehlo_names.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.quits += 1
        return "221 2.0.0 Bye"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        local = address.split("@", 1)[0].lower()
        with self.lock:
            self.offered[address.lower()] += 1
            times = self.offered[address.lower()]
        if (local.startswith("once-") and times == 1) or local.startswith("busy-"):
            return "451 4.3.0 Try again later"
        if local.startswith("unknown-"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local.startswith("spam-"):
            return "550 5.7.1 Message blocked as spam"
        if local.startswith("slow-"):
            await asyncio.sleep(2)  # a slow server, not a fixed wait in a test
        if local.startswith("drop-"):
            assert server.transport is not None
            server.transport.close()
            return "421 4.4.2 closing"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.gate.is_set():
            await asyncio.to_thread(self.gate.wait)
        with self.lock:
            self.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    recipients=tuple(envelope.rcpt_tos),
                    content=bytes(envelope.original_content or b""),
                    peer=str(session.peer[0]),
                    tls=session.ssl is not None,
                    mail_options=tuple(envelope.mail_options),
                )
            )
        return "250 2.0.0 Ok: stored"


class Sink:
    """The server, started on a free port; `received` lists the transactions it accepted."""

    def __init__(self, tls: ssl.SSLContext | None = None, smtputf8: bool = True) -> None:
        """`tls`: offer STARTTLS with this server context; `smtputf8`: offer SMTPUTF8."""
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, decode_data=False,
            enable_SMTPUTF8=smtputf8, tls_context=tls,
        )  # fmt: skip

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.controller.stop()

    def transactions_to(self, recipient: str) -> list[Received]:
        with self.handler.lock:
            return [r for r in self.handler.received if recipient in r.recipients]
