"""Opportunistic TLS on delivery, as Postfix's `may` level: STARTTLS when offered (a self-signed
certificate is accepted), and clear text when the handshake fails rather than no delivery."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailgate.tls import server_context, write_self_signed
from tests.mta.sink import Sink
from tests.mta.test_delivery import Setup, settled, start_setup, submit


def tls_context(tmp: Path, broken: bool = False) -> ssl.SSLContext:
    write_self_signed(tmp / "cert.pem", tmp / "key.pem", "mx.sink.test")
    context = server_context(tmp / "cert.pem", tmp / "key.pem")
    if broken:  # demands a client certificate, which Mailgate does not present: handshake fails
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(tmp / "cert.pem")
    return context


@pytest.fixture(scope="module")
def sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Setup, Sink]]:
    good = tls_context(tmp_path_factory.mktemp("good-tls"))
    broken = tls_context(tmp_path_factory.mktemp("broken-tls"), broken=True)
    with Sink(tls=good) as tls_sink, Sink(tls=broken) as broken_sink:
        running = start_setup(
            tmp_path_factory.mktemp("tls"),
            tls_sink,
            "tls.test",
            MAILGATE_ROUTES=(
                f"tls.example=127.0.0.1:{tls_sink.port},broken.example=127.0.0.1:{broken_sink.port}"
            ),
        )
        try:
            yield running, broken_sink
        finally:
            running.gateway.stop()


def test_starttls_is_used_when_offered(sinks: tuple[Setup, Sink]) -> None:
    setup, _ = sinks
    queue_id = submit(setup, ["ok-a@tls.example"])
    settled(setup, queue_id, {"ok-a@tls.example": "delivered"})
    [transaction] = setup.sink.transactions_to("ok-a@tls.example")
    assert transaction.tls


def test_a_failed_handshake_falls_back_to_clear_text(sinks: tuple[Setup, Sink]) -> None:
    setup, broken_sink = sinks
    queue_id = submit(setup, ["ok-a@broken.example"])
    settled(setup, queue_id, {"ok-a@broken.example": "delivered"})
    [transaction] = broken_sink.transactions_to("ok-a@broken.example")
    assert not transaction.tls
    assert "starttls failed host=127.0.0.1" in setup.gateway.log()
