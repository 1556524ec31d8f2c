"""Outbound routing against a real DNS server on loopback (tests/dns_server.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping

import pytest

from dns_tools.routing import PermanentRouteError, Route, Router, TemporaryRouteError
from tests.dns_server import DnsServer


def router_for(
    server: DnsServer, static_routes: Mapping[str, tuple[str, int]] | None = None, port: int = 25
) -> Router:
    return Router(static_routes=static_routes or {}, nameservers=[server.address], port=port)


def hosts(route: Route) -> list[str]:
    return [host for host, _ in route.hosts]


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll an async condition until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


@pytest.fixture
def silent_nameserver() -> Iterator[tuple[str, int]]:
    """A bound UDP port that never replies: a nameserver that is down without saying so."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()


async def test_mx_hosts_in_preference_order_on_the_smtp_port(dns_server: DnsServer) -> None:
    dns_server.set(
        "example.com", "MX", 300, ["20 MX2.Example.COM.", "10 mx1.example.com.", "30 mx3.other."]
    )
    route = await router_for(dns_server, port=2525).route("Example.COM.")
    assert route.hosts == (
        ("mx1.example.com", 2525),
        ("mx2.example.com", 2525),
        ("mx3.other", 2525),
    )
    assert 290 < route.ttl <= 300
    assert dns_server.queries == [("example.com", "MX")]


async def test_equal_preferences_are_shuffled_on_each_route(dns_server: DnsServer) -> None:
    dns_server.set("example.com", "MX", 300, ["10 a.example.com.", "10 b.example.com.", "5 p."])
    router = router_for(dns_server)
    orders = set()
    for _ in range(200):
        route = await router.route("example.com")
        orders.add(tuple(hosts(route)))
        if len(orders) == 2:
            break
    assert orders == {
        ("p", "a.example.com", "b.example.com"),
        ("p", "b.example.com", "a.example.com"),
    }
    assert dns_server.query_count == 1  # the cached answer is shuffled anew, not asked again


async def test_null_mx_bounces(dns_server: DnsServer) -> None:
    dns_server.set("nomail.test", "MX", 300, ["0 ."])
    dns_server.set("nomail.test", "A", 300, ["192.0.2.1"])  # an address does not make it a host
    with pytest.raises(PermanentRouteError) as error:
        await router_for(dns_server).route("nomail.test")
    assert str(error.value) == "5.1.10 nomail.test accepts no mail (null MX)"
    assert dns_server.queries == [("nomail.test", "MX")]


async def test_nxdomain_bounces_and_is_remembered(dns_server: DnsServer) -> None:
    router = router_for(dns_server)
    for _ in range(2):
        with pytest.raises(PermanentRouteError) as error:
            await router.route("nowhere.test")
        assert error.value.reason == "5.1.2 domain nowhere.test does not exist (NXDOMAIN)"
    assert dns_server.query_count == 1


async def test_negative_answer_is_remembered_for_the_soa_minimum(dns_server: DnsServer) -> None:
    dns_server.set("test", "SOA", 60, ["ns.test. admin.test. 1 3600 600 86400 1"])
    router = router_for(dns_server)
    with pytest.raises(PermanentRouteError):
        await router.route("gone.test")
    assert dns_server.query_count == 1
    dns_server.set("gone.test", "MX", 300, ["10 mx.gone.test."])

    async def routed() -> bool:
        try:
            return hosts(await router.route("gone.test")) == ["mx.gone.test"]
        except PermanentRouteError:
            return False

    await wait_for(routed)  # the SOA minimum is 1 s: the domain is asked about again


async def test_servfail_defers_and_is_not_remembered(dns_server: DnsServer) -> None:
    dns_server.servfail("broken.test")
    router = router_for(dns_server)
    for count in (1, 2):
        with pytest.raises(TemporaryRouteError) as error:
            await router.route("broken.test")
        assert str(error.value) == "4.4.3 DNS lookup for broken.test failed: SERVFAIL"
        assert dns_server.query_count == count


async def test_silent_nameserver_defers_within_the_timeout(
    silent_nameserver: tuple[str, int],
) -> None:
    router = Router(static_routes={}, nameservers=[silent_nameserver], timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TemporaryRouteError) as error:
        await router.route("example.com")
    assert str(error.value) == "4.4.3 DNS lookup for example.com timed out"
    assert time.monotonic() - started < 2.0


async def test_a_silent_first_nameserver_leaves_time_for_the_second(
    dns_server: DnsServer, silent_nameserver: tuple[str, int]
) -> None:
    dns_server.set("example.com", "MX", 300, ["10 mx.example.com."])
    router = Router(
        static_routes={}, nameservers=[silent_nameserver, dns_server.address], timeout=1
    )
    assert hosts(await router.route("example.com")) == ["mx.example.com"]


async def test_no_mx_but_an_address_routes_to_the_domain_itself(dns_server: DnsServer) -> None:
    dns_server.set("v4.test", "A", 120, ["192.0.2.1"])
    dns_server.set("v6.test", "AAAA", 120, ["2001:db8::1"])
    router = router_for(dns_server)
    for domain in ("v4.test", "v6.test"):
        route = await router.route(domain)
        assert route.hosts == ((domain, 25),)
        assert 110 < route.ttl <= 120
    assert dns_server.queries == [
        ("v4.test", "MX"),
        ("v4.test", "A"),
        ("v6.test", "MX"),
        ("v6.test", "A"),
        ("v6.test", "AAAA"),
    ]


async def test_no_mx_and_no_address_bounces(dns_server: DnsServer) -> None:
    dns_server.set("text-only.test", "TXT", 300, ['"v=spf1 -all"'])
    with pytest.raises(PermanentRouteError) as error:
        await router_for(dns_server).route("text-only.test")
    assert str(error.value) == "5.1.2 domain text-only.test has no MX or address records"


async def test_static_routes_win_without_asking_dns(dns_server: DnsServer) -> None:
    dns_server.set("example.com", "MX", 300, ["10 mx.example.com."])
    exact = router_for(dns_server, {"example.com": ("127.0.0.1", 2525), "*": ("relay", 587)})
    assert (await exact.route("EXAMPLE.com")).hosts == (("127.0.0.1", 2525),)
    assert (await exact.route("other.test")).hosts == (("relay", 587),)
    only_star = router_for(dns_server, {"*": ("smarthost.test", 25)})
    assert (await only_star.route("example.com")).hosts == (("smarthost.test", 25),)
    assert dns_server.query_count == 0


async def test_answer_cached_for_its_ttl_then_asked_again(dns_server: DnsServer) -> None:
    dns_server.set("example.com", "MX", 1, ["10 old.example.com."])
    router = router_for(dns_server)
    assert hosts(await router.route("example.com")) == ["old.example.com"]
    assert hosts(await router.route("example.com")) == ["old.example.com"]
    assert dns_server.query_count == 1
    dns_server.set("example.com", "MX", 1, ["10 new.example.com."])

    async def asked_again() -> bool:
        route = await router.route("example.com")
        return dns_server.query_count > 1 and hosts(route) == ["new.example.com"]

    await wait_for(asked_again)


async def test_concurrent_routes_for_one_domain_share_one_query(dns_server: DnsServer) -> None:
    dns_server.set("example.com", "MX", 300, ["10 mx.example.com."])
    router = router_for(dns_server)
    routes = await asyncio.gather(*(router.route("example.com") for _ in range(50)))
    assert {hosts(route)[0] for route in routes} == {"mx.example.com"}
    assert dns_server.query_count == 1


async def test_mx_set_too_large_for_udp_arrives_over_tcp(dns_server: DnsServer) -> None:
    many = [f"{i} {'x' * 50}-{i:02}.example.com." for i in range(60)]
    dns_server.set("big.test", "MX", 300, many)
    route = await router_for(dns_server).route("big.test")
    assert len(route.hosts) == 60
    assert hosts(route)[0] == f"{'x' * 50}-00.example.com"
    assert dns_server.queries == [("big.test", "MX"), ("big.test", "MX")]  # UDP, then TCP


@pytest.mark.parametrize("domain", ["", "a..b", f"{'x' * 64}.test"])
async def test_invalid_domain_bounces_without_a_query(dns_server: DnsServer, domain: str) -> None:
    with pytest.raises(PermanentRouteError, match=r"^5\.1\.2 invalid domain name"):
        await router_for(dns_server).route(domain)
    assert dns_server.query_count == 0
