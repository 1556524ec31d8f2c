"""URLs the gateway itself will call (webhooks, callbacks, attachment URLs): http or https, with
a host that resolves only to public addresses. Otherwise anyone with an API key could make the
gateway reach its own loopback services, the private network it runs in, or a cloud metadata
endpoint (server-side request forgery).

The checked addresses are returned, so that the caller connects to an address that was checked
rather than resolving the name again (a name may answer differently the second time).
`allow_private` (the `allow_private_targets` setting) lifts the address rule for tests and closed
networks; the URL must still be well formed and its host must still resolve.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver

from dns_tools.routing import make_resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What the ipaddress module has no property for.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is embedded
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local use, not global
SCHEMES = {"http": 80, "https": 443}
LOCALHOST = ("127.0.0.1", "::1")  # RFC 6761: `localhost` names are loopback, never asked of DNS


class TargetRefused(Exception):
    """The URL may not be called; `reason` says why, for the API's answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """A URL that passed the check, and the addresses its host had when it was checked."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 one stands for (mapped, 6to4, Teredo, NAT64): `::ffff:127.0.0.1`
    reaches loopback as surely as `127.0.0.1` does."""
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in NAT64_PREFIX:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [embedded for embedded in found if embedded is not None]


def refusal(address: IPAddress) -> str | None:
    """Why the gateway must not connect to `address`, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in _embedded_ipv4(address):
            reason = refusal(embedded)
            if reason is not None:
                return reason
        if address in NAT64_LOCAL:
            return "not a public address"
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        # Shared address space (CGNAT, 100.64.0.0/10), documentation ranges and the like.
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _literal(host: str) -> IPAddress | None:
    """The address a host names by itself. Besides the usual forms, IPv4 written the old ways
    that HTTP clients still accept (`127.1`, `0x7f.1`, `2130706433`) counts as the address it
    denotes: a host whose last label is a number is no DNS name (no top-level domain is)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if not (last.isdigit() or last.startswith("0x")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        raise TargetRefused(f"{host!r} is not a valid address") from None


def _parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http or https URL with a host."""
    # Before parsing: urlsplit silently drops tabs and newlines, which no valid URL holds.
    if any(char.isspace() or not char.isprintable() for char in url):
        raise TargetRefused("not a valid URL: it contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetRefused("only http and https URLs may be called")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused("the URL has no host")
    if port == 0:
        raise TargetRefused("not a valid URL: port 0")
    return scheme, host, port if port is not None else SCHEMES[scheme]


async def _resolve(resolver: dns.asyncresolver.Resolver, host: str) -> list[IPAddress]:
    """Every IPv4 and IPv6 address of `host`; TargetRefused when it has none."""
    try:
        qname = dns.name.from_unicode(host, idna_codec=dns.name.IDNA_2008_Practical)
    except (UnicodeError, ValueError, dns.exception.DNSException):
        raise TargetRefused(f"{host!r} is not a valid host name") from None
    found: list[IPAddress] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(qname, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            break
        except dns.resolver.NoAnswer:
            continue
        except dns.exception.DNSException as error:
            raise TargetRefused(f"{host} could not be resolved: {error}") from None
        found.extend(ipaddress.ip_address(rdata.to_text()) for rdata in answer)
    if not found:
        raise TargetRefused(f"{host} does not resolve to any address")
    return found


async def check_target(
    url: str,
    nameservers: Sequence[tuple[str, int]],
    allow_private: bool = False,
    lifetime: float = 5.0,
) -> Target:
    """The checked target; raises TargetRefused for a malformed URL, a host that does not
    resolve, or (unless `allow_private`) one with any address that is not public."""
    url = url.strip()
    scheme, host, port = _parse(url)
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    elif host == "localhost" or host.endswith(".localhost"):
        addresses = [ipaddress.ip_address(text) for text in LOCALHOST]
    else:
        addresses = await _resolve(make_resolver(nameservers, lifetime), host)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                named = host if literal is not None else f"{host} resolves to {address}, which"
                raise TargetRefused(f"{named} is {reason}")
    return Target(url, scheme, host, port, tuple(str(a) for a in dict.fromkeys(addresses)))
