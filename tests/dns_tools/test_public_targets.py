"""The URL guard: what the gateway may call, resolved through a real DNS server on loopback."""

from __future__ import annotations

import pytest

from dns_tools.public_targets import TargetRefused, check_target
from tests.dns_server import DnsServer

PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"


def publish(server: DnsServer) -> None:
    server.set("hooks.example.com", "A", 60, [PUBLIC_V4])
    server.set("hooks.example.com", "AAAA", 60, [PUBLIC_V6])
    server.set("v6only.example.com", "AAAA", 60, [PUBLIC_V6])
    server.set("internal.example.com", "A", 60, ["10.1.2.3"])
    server.set("metadata.example.com", "A", 60, ["169.254.169.254"])
    server.set("loop6.example.com", "AAAA", 60, ["::1"])
    server.set("mixed.example.com", "A", 60, [PUBLIC_V4, "192.168.1.10"])
    server.set("mapped.example.com", "AAAA", 60, ["::ffff:127.0.0.1"])


async def test_a_public_name_is_accepted_with_the_addresses_checked(dns_server: DnsServer) -> None:
    publish(dns_server)
    target = await check_target("https://Hooks.Example.com:8443/in?x=1", [dns_server.address])
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)
    assert target.addresses == (PUBLIC_V4, PUBLIC_V6)
    assert target.url == "https://Hooks.Example.com:8443/in?x=1"
    only_v6 = await check_target("http://v6only.example.com/", [dns_server.address])
    assert (only_v6.port, only_v6.addresses) == (80, (PUBLIC_V6,))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.1/hook", "loopback"),  # the short form HTTP clients still accept
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.0.0.1/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped
        ("http://[2002:7f00:1::]/hook", "loopback"),  # 6to4 of 127.0.0.1
        ("http://10.0.0.8/hook", "private"),
        ("http://172.16.5.4/hook", "private"),
        ("http://192.168.0.1/hook", "private"),
        ("http://[::ffff:10.0.0.8]/hook", "private"),
        ("http://[fd12::1]/hook", "private"),
        ("http://[64:ff9b::a00:8]/hook", "private"),  # NAT64 of 10.0.0.8
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://169.254.10.1/hook", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://[::]/hook", "unspecified"),
        ("http://224.0.0.251/hook", "multicast"),
        ("http://[ff02::1]/hook", "multicast"),
        ("http://100.64.3.4/hook", "not a public address"),  # CGNAT, shared address space
        ("http://240.0.0.1/hook", "private"),  # reserved for future use
        ("http://localhost:8080/hook", "loopback"),
        ("http://internal.example.com/hook", "private"),
        ("http://metadata.example.com/hook", "metadata"),
        ("http://loop6.example.com/hook", "loopback"),
        ("http://mixed.example.com/hook", "private"),  # one private address is one too many
        ("http://mapped.example.com/hook", "loopback"),
        ("http://missing.example.com/hook", "does not resolve"),
        ("ftp://hooks.example.com/hook", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("hooks.example.com/hook", "only http and https"),
        ("https:///hook", "no host"),
        ("https://hooks.example.com:99999/hook", "not a valid URL"),
        ("https://hooks.example.com:0/hook", "port 0"),
        ("https://hooks.exa\tmple.com/hook", "spaces or control"),
        ("http://1.2.3.4.5/hook", "not a valid address"),
    ],
)
async def test_refused(dns_server: DnsServer, url: str, reason: str) -> None:
    publish(dns_server)
    with pytest.raises(TargetRefused) as refused:
        await check_target(url, [dns_server.address])
    assert reason in refused.value.reason


async def test_a_public_literal_is_accepted_without_dns(dns_server: DnsServer) -> None:
    v4 = await check_target("http://8.8.8.8/hook", [dns_server.address])
    v6 = await check_target("https://[2606:4700:4700::1111]/hook", [dns_server.address])
    assert (v4.addresses, v6.addresses) == (("8.8.8.8",), ("2606:4700:4700::1111",))
    assert dns_server.queries == []


async def test_a_failing_nameserver_refuses(dns_server: DnsServer) -> None:
    dns_server.servfail("broken.example.com")
    with pytest.raises(TargetRefused, match="could not be resolved"):
        await check_target("https://broken.example.com/", [dns_server.address], lifetime=2)


async def test_private_targets_allowed_by_configuration(dns_server: DnsServer) -> None:
    publish(dns_server)
    servers = [dns_server.address]
    loopback = await check_target("http://127.0.0.1:9000/hook", servers, allow_private=True)
    assert loopback.addresses == ("127.0.0.1",)
    named = await check_target("http://localhost:9000/hook", servers, allow_private=True)
    assert named.addresses == ("127.0.0.1", "::1")
    internal = await check_target("http://internal.example.com/", servers, allow_private=True)
    assert internal.addresses == ("10.1.2.3",)
    # The URL must still be one, and its name must still resolve.
    with pytest.raises(TargetRefused, match="only http and https"):
        await check_target("gopher://127.0.0.1/", servers, allow_private=True)
    with pytest.raises(TargetRefused, match="does not resolve"):
        await check_target("http://missing.example.com/", servers, allow_private=True)
