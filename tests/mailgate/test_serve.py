"""`mailgate serve` as an operator runs it: listeners that cannot be bound, clean shutdown on
SIGTERM/SIGINT, durability across SIGKILL, and PostgreSQL as the store."""

from __future__ import annotations

import signal
import smtplib
import socket
import threading
import uuid
from collections.abc import Callable

import pytest

from tests.conftest import (
    Gateway,
    free_port,
    greeting,
    wait_until,
)
from tests.mta.support import RawSession, expect, message, queued_id

Factory = Callable[..., Gateway]
SENDER = "app@serve.test"
RECIPIENT = "friend@example.org"


def with_sender(gateway: Gateway) -> Gateway:
    """Register `serve.test` as an enabled sender domain (submitted from the relay network)."""
    user = gateway.json("user", "add", "owner@serve.test")["UserID"]
    domain = gateway.json("domain", "add", "serve.test", "--user", str(user))["DomainID"]
    gateway.json("domain", "enable", str(domain))
    return gateway


@pytest.fixture
def relay_gateway(gateway_factory: Factory) -> Gateway:
    """One worker process, loopback as a relay network: submission without TLS or AUTH."""
    return with_sender(
        gateway_factory(MAILGATE_SMTP_PROCESSES="1", MAILGATE_RELAY_NETWORKS="127.0.0.0/8")
    )


def relay_session(port: int) -> RawSession:
    session = RawSession(port)
    expect(session.command("EHLO client.example"), "250")
    return session


def queued_ids(gateway: Gateway) -> list[str]:
    """Every queued message id (hex), with repetitions if there were any."""
    return [message_id for (message_id,) in gateway.sql("SELECT id FROM messages")]


def test_a_port_that_cannot_be_bound_is_logged_and_the_others_serve(
    gateway_factory: Factory,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = squatter.getsockname()[1]
        free = free_port()
        gateway = gateway_factory(MAILGATE_SUBMISSION_PORTS=f"{taken},{free}")
        gateway.ports = {
            "smtp": gateway.ports["smtp"],
            "submission": free,
            "smtps": gateway.ports["smtps"],
        }
        gateway.start()  # waits for the 220 banner on every port but the taken one
        log = gateway.log()
        assert f"listener failed role=submission port={taken}" in log
        assert f"listening role=submission address=127.0.0.1 port={free}" in log
        assert gateway.stop() == 0


def test_serve_exits_when_no_port_can_be_bound(gateway_factory: Factory) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = str(squatter.getsockname()[1])
        gateway = gateway_factory(
            MAILGATE_SMTP_PORT=taken, MAILGATE_SUBMISSION_PORTS="", MAILGATE_SMTPS_PORT=""
        )
        result = gateway.cli("serve", check=False)
    assert result.returncode == 1
    assert f"port={taken}" in result.stderr
    assert "no SMTP listener could be bound" in result.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_shutdown_refuses_idle_sessions_and_finishes_a_message_in_flight(
    relay_gateway: Gateway, stop_signal: signal.Signals
) -> None:
    relay_gateway.start()
    assert relay_gateway.process is not None
    port = relay_gateway.ports["smtp"]
    idle = relay_session(port)
    busy = relay_session(port)
    expect(busy.command(f"MAIL FROM:<{SENDER}>"), "250 2.1.0")
    expect(busy.command(f"RCPT TO:<{RECIPIENT}>"), "250 2.1.5")
    expect(busy.command("DATA"), "354")
    content = message(SENDER, RECIPIENT, body="in flight at shutdown")
    busy.send(content[:20])

    relay_gateway.process.send_signal(stop_signal)  # the supervisor, as `kill` or Ctrl-C would
    expect(idle.reply(), "421 4.3.2")  # the worker has begun to stop
    assert idle.closed_by_server()
    assert not greeting(port)  # nothing accepts new connections any more

    busy.send(content[20:] + b".\r\n")
    queue_id = queued_id(busy.reply())
    expect(busy.reply(), "421 4.3.2")
    assert relay_gateway.process.wait(timeout=30) == 0
    relay_gateway.process = None
    assert queued_ids(relay_gateway) == [queue_id.hex]
    log = relay_gateway.log()
    assert "worker stopped" in log
    # Campaigns and background jobs start where the API runs: the scheduler's own process is
    # there with no delivery process (the test gateways' default), and stops with the rest.
    assert "name=scheduler " in log and "campaign scheduler stopped" in log
    assert "name=webhooks " not in log


class Load:
    """Client threads sending through reused sessions until told to stop; records acks."""

    def __init__(self, port: int, threads: int) -> None:
        self.port = port
        self.acked: dict[str, str] = {}  # marker -> queue id (hex)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.errors: list[Exception] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def _run(self) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=15) as smtp:
                smtp.ehlo()
                while not self.stop.is_set():
                    mark = uuid.uuid4().hex
                    body = message(
                        SENDER, RECIPIENT, body=f"marker {mark}\r\n" + ("x" * 76 + "\r\n") * 25
                    )
                    smtp.mail(SENDER)
                    smtp.rcpt(RECIPIENT)
                    smtp.rcpt("second@example.org")
                    reply = smtp.data(body)
                    if reply[0] != 250:
                        raise smtplib.SMTPDataError(*reply)
                    with self.lock:
                        self.acked[mark] = queued_id(reply).hex
        except (OSError, smtplib.SMTPException) as error:
            self.errors.append(error)  # once the server is killed, unacknowledged mail may be lost

    def progress(self, target: int) -> bool:
        """True once `target` messages are acknowledged; fails if every client has given up."""
        if not any(thread.is_alive() for thread in self.threads):
            raise AssertionError(f"all clients stopped early: {self.errors}")
        return self.count() >= target


def test_every_acknowledged_message_survives_sigkill(gateway_factory: Factory) -> None:
    gateway = with_sender(
        gateway_factory(MAILGATE_SMTP_PROCESSES="2", MAILGATE_RELAY_NETWORKS="127.0.0.0/8")
    )
    gateway.start()
    with Load(gateway.ports["smtp"], threads=8) as load:
        wait_until(lambda: load.progress(300), timeout=60)
        gateway.stop(signal.SIGKILL)  # mid-load: sessions are inside transactions right now
    acked = dict(load.acked)
    assert len(acked) >= 300

    stored = {
        bytes(raw).split(b"marker ", 1)[1][:32].decode(): (message_id, deliveries)
        for message_id, raw, deliveries in gateway.sql(
            "SELECT m.id, m.raw, (SELECT count(*) FROM deliveries d WHERE d.message_id = m.id)"
            " FROM messages m"
        )
    }
    [(total,)] = gateway.sql("SELECT count(*) FROM messages")
    assert len(stored) == total  # no message was stored twice
    missing = [mark for mark in acked if mark not in stored]
    assert missing == [], f"{len(missing)} acknowledged messages lost"
    assert all(stored[mark] == (queue_id, 2) for mark, queue_id in acked.items())

    gateway.start()  # the store opens again after the crash and takes new mail
    with smtplib.SMTP("127.0.0.1", gateway.ports["smtp"], timeout=15) as smtp:
        smtp.sendmail(SENDER, [RECIPIENT], message(SENDER, RECIPIENT, body="after the crash"))
    assert len(queued_ids(gateway)) == total + 1
    assert gateway.stop() == 0


@pytest.mark.postgres
def test_serve_queues_into_postgresql(gateway_factory: Factory, postgres_url: str) -> None:
    gateway = with_sender(
        gateway_factory(
            MAILGATE_DATABASE_URL=postgres_url,
            MAILGATE_SMTP_PROCESSES="2",
            MAILGATE_RELAY_NETWORKS="127.0.0.0/8",
        )
    )
    assert not (gateway.data_dir / "mailgate.db").exists()  # nothing went to SQLite
    gateway.start()
    with smtplib.SMTP("127.0.0.1", gateway.ports["smtp"], timeout=15) as smtp:
        smtp.ehlo()
        smtp.mail(SENDER)
        smtp.rcpt(RECIPIENT)
        queue_id = queued_id(smtp.data(message(SENDER, RECIPIENT, body="into postgres")))
    assert gateway.stop() == 0
    rows = gateway.sql(
        "SELECT d.recipient, d.status, m.mail_from FROM messages m"
        " JOIN deliveries d ON d.message_id = m.id WHERE m.id = ?",
        queue_id.hex,
    )
    assert rows == [(RECIPIENT, "queued", SENDER)]
