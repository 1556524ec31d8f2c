"""Delivery routed by DNS: a real DNS server on loopback (tests/dns_server.py) answers MX and
address queries for `mailgate serve`'s delivery worker, whose mail then reaches the sink on the
configured MX port. Unreachable first MX hosts are passed over; null MX and NXDOMAIN bounce at
once; SERVFAIL defers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dns_server import DnsServer
from tests.mta.sink import Sink
from tests.mta.test_delivery import Setup, events, settled, start_setup, submit


@pytest.fixture(scope="module")
def dns_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    zone = {
        # mx1 is preferred but nothing listens at its address; mx2 is the sink.
        ("mx.test", "MX"): (300, ["20 mx2.mx.test.", "10 mx1.mx.test."]),
        ("mx1.mx.test", "A"): (300, ["127.0.0.3"]),
        ("mx2.mx.test", "A"): (300, ["127.0.0.1"]),
        ("implicit.test", "A"): (300, ["127.0.0.1"]),  # no MX: the domain is its own host
        ("nullmx.test", "MX"): (300, ["0 ."]),
    }
    with (
        Sink() as sink,
        DnsServer(zone, nxdomain=["nxdomain.test"], servfail=["servfail.test"]) as dns,
    ):
        running = start_setup(
            tmp_path_factory.mktemp("routing"),
            sink,
            "routing.test",
            MAILGATE_NAMESERVERS=f"127.0.0.1:{dns.port}",
            MAILGATE_DELIVERY_PORT=str(sink.port),
            MAILGATE_RETRY_SCHEDULE="1h",
        )
        try:
            yield running
        finally:
            running.gateway.stop()


def test_mail_goes_to_the_first_mx_host_that_answers(dns_setup: Setup) -> None:
    queue_id = submit(dns_setup, ["ok-a@mx.test", "ok-b@implicit.test"])
    settled(dns_setup, queue_id, {"ok-a@mx.test": "delivered", "ok-b@implicit.test": "delivered"})
    assert [t.recipients for t in dns_setup.sink.transactions_to("ok-a@mx.test")] == [
        ("ok-a@mx.test",)
    ]
    [(_, data)] = [e for e in events(dns_setup, queue_id, "ok-a@mx.test") if e[0] == "delivered"]
    assert data["remote_host"] == "mx2.mx.test"
    [(_, data)] = [
        e for e in events(dns_setup, queue_id, "ok-b@implicit.test") if e[0] == "delivered"
    ]
    assert data["remote_host"] == "implicit.test"


@pytest.mark.parametrize(
    ("domain", "code", "text"),
    [
        ("nullmx.test", "5.1.10", "accepts no mail (null MX)"),
        ("nxdomain.test", "5.1.2", "does not exist (NXDOMAIN)"),
    ],
)
def test_domains_without_mail_bounce_at_once(
    dns_setup: Setup, domain: str, code: str, text: str
) -> None:
    recipient = f"ok-a@{domain}"
    queue_id = submit(dns_setup, [recipient])
    settled(dns_setup, queue_id, {recipient: "bounced"})
    [(_, data)] = [e for e in events(dns_setup, queue_id, recipient) if e[0] == "bounced"]
    assert data["enhanced_code"] == code and text in data["reply"]
    assert data["category"] == "bad-domain"
    assert data["attempt"] == 1


def test_a_failing_nameserver_defers(dns_setup: Setup) -> None:
    recipient = "ok-a@servfail.test"
    queue_id = submit(dns_setup, [recipient])
    settled(dns_setup, queue_id, {recipient: "deferred"})
    [(_, data)] = [e for e in events(dns_setup, queue_id, recipient) if e[0] == "deferred"]
    assert data["reply"] == "4.4.3 DNS lookup for servfail.test failed: SERVFAIL"


def suppressed(setup: Setup, address: str) -> list[tuple[object, ...]]:
    return setup.gateway.sql("SELECT reason FROM suppressions WHERE address = ?", address)


def test_a_domain_without_mail_suppresses_only_when_seen_so_an_hour_apart(
    dns_setup: Setup,
) -> None:
    """Issue 16: the quick start's first send to an NXDOMAIN must not lose the address for ever
    on one lookup. The first bounce suppresses nothing; once the domain was first seen so an
    hour ago (the stored sighting moved back), the next bounce suppresses."""
    first, second = "ok-first@nxdomain.test", "ok-second@nxdomain.test"
    queue_id = submit(dns_setup, [first])
    settled(dns_setup, queue_id, {first: "bounced"})
    [(_, data)] = [e for e in events(dns_setup, queue_id, first) if e[0] == "bounced"]
    assert (data["bounce_reason"], data["address_suppressed"]) == ("hostunknown", False)
    assert suppressed(dns_setup, first) == []

    dns_setup.gateway.sql(
        "UPDATE dead_domains SET first_seen_at = ? WHERE domain = 'nxdomain.test'",
        "2000-01-01 00:00:00.000000",
    )
    queue_id = submit(dns_setup, [second])
    settled(dns_setup, queue_id, {second: "bounced"})
    [(_, data)] = [e for e in events(dns_setup, queue_id, second) if e[0] == "bounced"]
    assert data["address_suppressed"] is True
    assert suppressed(dns_setup, second) == [("bad-domain",)]
