"""The one narrow interface between delivery and the network, as httpx's transports are: "send
this envelope and message to this host, tell me each recipient's reply". Delivery decides what
the replies mean (delivered, deferred, bounced); the transport owns sessions, their reuse, TLS
and the SMTP commands. mta/outbound/sessions.py implements it with aiosmtplib.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MailHost:
    """One address of one of a destination's hosts (an MX or a static route)."""

    host: str  # the name: TLS's server name, session reuse, and what outcomes report
    port: int
    address: str  # the IP address to connect to


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipients: tuple[str, ...]
    content: bytes
    international: bool = False  # a message that needs SMTPUTF8 (RFC 6531): see needs_smtputf8


def needs_smtputf8(sender: str, recipients: tuple[str, ...], content: bytes) -> bool:
    """Whether the transaction must ask for SMTPUTF8 (RFC 6531): a non-ASCII address in the
    envelope, or a header section in UTF-8 (RFC 6532: an internationalized address in a header,
    which mta/submission/composition writes as it is; other non-ASCII header text is encoded
    words)."""
    if not sender.isascii() or not all(recipient.isascii() for recipient in recipients):
        return True
    end = content.find(b"\r\n\r\n")
    return not content[: end if end >= 0 else len(content)].isascii()


@dataclass(frozen=True)
class Reply:
    """What became of one recipient: the server's reply (`code` and the reply as text,
    "250 2.0.0 Ok"), or code 0 with our own text when no reply came (connection lost)."""

    code: int
    text: str


class HostUnavailable(Exception):
    """This address could not be used at all (unreachable, a temporary greeting, a session
    lost before MAIL): nothing was sent, the next address may be tried."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class OutboundTransport(Protocol):
    async def send(self, to: MailHost, envelope: Envelope) -> list[Reply]:
        """One reply per recipient, in the envelope's order; HostUnavailable when none."""
        ...

    async def sweep(self) -> None:
        """Close what has been idle too long."""
        ...

    async def close(self) -> None: ...
