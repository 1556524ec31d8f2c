"""Whom AUTH failures are counted for: a client address, and for IPv6 its /64 network (a client
holding a /64 cannot change address at each guess); on the shared database every worker uses."""

from __future__ import annotations

from datetime import UTC, datetime

from mta.smtp.auth_throttle import AuthThrottle, client_key
from storage.engine import Database


def test_clients_are_counted_by_address_and_ipv6_by_network() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"  # from a dual-stack listener
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("fe80::1%eth0") == "fe80::/64"
    assert client_key("not an address") == "not an address"


async def test_failures_from_one_ipv6_network_add_up(db: Database) -> None:
    throttle = AuthThrottle(
        db, limit=3, lockout=600, delay_step=0, clock=lambda: datetime(2026, 12, 7, tzinfo=UTC)
    )
    guesses = ["2001:db8:0:1::a", "2001:db8:0:1::b", "2001:db8:0:1:ffff:ffff:1:2"]
    failures = [await throttle.failed(address) for address in guesses]
    assert [failure.locked for failure in failures] == [False, False, True]
    assert await throttle.is_locked("2001:db8:0:1::c")  # any address of that network
    assert not await throttle.is_locked("2001:db8:0:2::a")  # the next /64
    assert not await throttle.is_locked("192.0.2.7")
