"""One installation shared by the SMTP tests: a data directory with a user, sender domains and
SMTP credentials made with the `mailgate` CLI, and one running `mailgate serve`.

The shared gateway runs with small limits (message size, recipients, hops) so that the limit
tests need no gateway of their own. Tests that need other settings start a `sibling`: a second
`mailgate serve` on the same data directory (and so the same accounts), on its own ports.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Gateway, free_port, make_gateway

MAX_MESSAGE_SIZE = 10_000
MAX_RECIPIENTS = 3
HOP_LIMIT = 5


@dataclass(frozen=True)
class Sender:
    """A sender domain as `mailgate domain add` described it, with one SMTP credential."""

    domain_id: int
    domain: str
    return_path: str
    selector: str
    dkim_name: str
    dkim_txt: str
    username: str
    password: str

    @property
    def address(self) -> str:
        """An address of the domain, to send from."""
        return f"app@{self.domain}"


class DnsRecord:
    """A `dnsfunc` for dkimpy answering only the DKIM record that `mailgate domain add` printed."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.asked: list[str] = []

    def __call__(self, name: bytes, timeout: float = 5) -> bytes | None:
        asked = name.decode().rstrip(".")
        self.asked.append(asked)
        return self.sender.dkim_txt.encode() if asked == self.sender.dkim_name else None


@dataclass
class Installation:
    gateway: Gateway
    user_id: int
    alpha: Sender  # Enabled
    beta: Sender  # Enabled, same user; test_sender_policy disables it
    pending: str  # a domain left in Approval Pending
    siblings: list[Gateway] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.gateway.data_dir

    @property
    def mx(self) -> int:
        return self.gateway.ports["smtp"]

    @property
    def submission(self) -> int:
        return self.gateway.ports["submission"]

    @property
    def smtps(self) -> int:
        return self.gateway.ports["smtps"]

    def sibling(self, **env: str) -> Gateway:
        """Another `mailgate serve` on this data directory, on fresh ports, with `env` set."""
        ports = {"smtp": free_port(), "submission": free_port(), "smtps": free_port()}
        sibling = Gateway(
            data_dir=self.data_dir,
            env={
                **self.gateway.env,
                "MAILGATE_SMTP_PORT": str(ports["smtp"]),
                "MAILGATE_SUBMISSION_PORTS": str(ports["submission"]),
                "MAILGATE_SMTPS_PORT": str(ports["smtps"]),
                "MAILGATE_HTTP_PORT": str(free_port()),
                **env,
            },
            ports=ports,
        )
        sibling.start()
        self.siblings.append(sibling)
        return sibling


def add_sender(gateway: Gateway, user_id: int, name: str) -> Sender:
    domain: dict[str, Any] = gateway.json("domain", "add", name, "--user", str(user_id))
    domain_id = str(domain["DomainID"])
    gateway.json("domain", "enable", domain_id)
    credential = gateway.json("smtp", "add", "--domain", domain_id)
    dkim = next(r for r in domain["DNSRecords"] if r["Purpose"] == "DKIM")
    return Sender(
        domain_id=domain["DomainID"],
        domain=domain["SenderDomain"],
        return_path=domain["ReturnPathDomain"],
        selector=domain["DKIMSelector"],
        dkim_name=dkim["Name"],
        dkim_txt=dkim["Value"],
        username=credential["SMTPUsername"],
        password=credential["SMTPPassword"],
    )


@pytest.fixture(scope="session")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    gateway = make_gateway(
        tmp_path_factory.mktemp("mta"),
        MAILGATE_MAX_MESSAGE_SIZE=str(MAX_MESSAGE_SIZE),
        MAILGATE_MAX_RECIPIENTS=str(MAX_RECIPIENTS),
        MAILGATE_HOP_LIMIT=str(HOP_LIMIT),
    )
    user_id = int(gateway.json("user", "add", "owner@alpha.test")["UserID"])
    alpha = add_sender(gateway, user_id, "alpha.test")
    beta = add_sender(gateway, user_id, "beta.test")
    gateway.json("domain", "add", "pending.test", "--user", str(user_id))
    installed = Installation(gateway, user_id, alpha, beta, "pending.test")
    gateway.start()
    try:
        yield installed
    finally:
        for running in (*installed.siblings, gateway):
            if running.process is not None:
                running.stop(signal.SIGKILL)
