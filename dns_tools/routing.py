"""Where mail for a domain goes: a static route, else its MX hosts (RFC 5321 section 5.1, null MX
per RFC 7505), remembered for the TTL of the answer.

A failure is one of two exceptions, so that the delivery worker bounces or defers without
knowing DNS: `PermanentRouteError` (the domain cannot receive mail) and `TemporaryRouteError`
(ask again later). Their text is a reply with an enhanced status code, for the delivery log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

import cachetools
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdtypes.ANY.MX
import dns.resolver

NEGATIVE_TTL_CAP = 300.0  # a domain that gets fixed should receive mail within minutes
CACHE_SIZE = 10_000
ATTEMPT_TIMEOUT = 2.0  # one nameserver's chance before the next is asked


@dataclass(frozen=True)
class Route:
    """The (host, port) pairs to try in order, and the seconds this answer stays valid."""

    hosts: tuple[tuple[str, int], ...]
    ttl: float


class RouteError(Exception):
    """A domain that could not be routed; `reason` reads as an SMTP reply text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentRouteError(RouteError):
    """The domain does not exist or accepts no mail: bounce."""


class TemporaryRouteError(RouteError):
    """DNS did not answer usefully (SERVFAIL, timeout): defer and try again."""


@dataclass(frozen=True)
class _Entry:
    """A cached outcome. MX hosts are kept by preference so that each route shuffles ties anew
    and spreads the load over equal hosts for the whole TTL."""

    groups: tuple[tuple[str, ...], ...]
    error: str | None  # the reason of a permanent failure; a new exception on each use
    expires: float  # time.monotonic()


class Router:
    """Routes recipient domains: static routes (`domain` or `*`) first, then DNS."""

    def __init__(
        self,
        static_routes: Mapping[str, tuple[str, int]],
        nameservers: Sequence[tuple[str, int]],
        port: int = 25,
        timeout: float = 5.0,
    ) -> None:
        self.static_routes = dict(static_routes)
        self.port = port
        self._resolver = make_resolver(nameservers, timeout)
        self._cache: cachetools.TLRUCache[str, _Entry] = cachetools.TLRUCache(
            CACHE_SIZE, ttu=lambda _key, entry, _now: entry.expires, timer=time.monotonic
        )
        self._pending: dict[str, asyncio.Task[_Entry]] = {}
        # host -> (expiry, addresses)
        self._addresses: cachetools.TLRUCache[str, tuple[float, tuple[str, ...]]] = (
            cachetools.TLRUCache(
                CACHE_SIZE, ttu=lambda _k, entry, _now: entry[0], timer=time.monotonic
            )
        )

    async def route(self, domain: str) -> Route:
        """The hosts for `domain`; raises PermanentRouteError or TemporaryRouteError."""
        name = domain.strip().rstrip(".").lower()
        static = self.static_routes.get(name) or self.static_routes.get("*")
        if static is not None:
            return Route(hosts=(static,), ttl=math.inf)
        entry = self._cache.get(name) or await self._shared_lookup(name)
        if entry.error is not None:
            raise PermanentRouteError(entry.error)
        hosts = [host for group in entry.groups for host in random.sample(group, len(group))]
        ttl = max(entry.expires - time.monotonic(), 0.0)
        return Route(hosts=tuple((host, self.port) for host in hosts), ttl=ttl)

    async def addresses(self, host: str) -> list[str]:
        """The IPv4 then IPv6 addresses of a mail host, through the same resolver as the MX
        lookup (a configured nameserver must answer for the hosts too); an IP literal is its
        own address. Raises TemporaryRouteError when DNS fails or the host has no address: a
        broken MX host is the domain's to fix, so its mail waits (the caller tries the next
        host first)."""
        literal = host.strip("[]")
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            pass
        else:
            return [literal]
        name = host.rstrip(".").lower()
        cached = self._addresses.get(name)
        if cached is not None:
            return list(cached[1])
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            raise TemporaryRouteError(f"4.4.4 invalid mail host name {host!r}") from None
        found: list[str] = []
        ttl = NEGATIVE_TTL_CAP
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._query(name, qname, rdtype)
            except dns.resolver.NXDOMAIN:
                break
            except dns.resolver.NoAnswer:
                continue
            found.extend(rdata.to_text() for rdata in answer)
            ttl = min(ttl, _ttl(answer))
        if not found:
            raise TemporaryRouteError(f"4.4.4 mail host {name} has no address")
        self._addresses[name] = (time.monotonic() + ttl, tuple(found))
        return found

    async def _shared_lookup(self, name: str) -> _Entry:
        """One DNS lookup per domain at a time: a batch of messages to a domain that is not
        cached yet would otherwise send as many identical queries."""
        task = self._pending.get(name)
        if task is None:
            task = self._pending[name] = asyncio.create_task(self._lookup(name))
            task.add_done_callback(lambda done: self._forget(name, done))
        return await asyncio.shield(task)  # a cancelled caller leaves the lookup to the others

    def _forget(self, name: str, task: asyncio.Task[_Entry]) -> None:
        self._pending.pop(name, None)
        if not task.cancelled():
            task.exception()  # retrieved here, in case every caller was cancelled

    async def _lookup(self, name: str) -> _Entry:
        try:
            qname = dns.name.from_text(name) if name else None
        except dns.exception.DNSException:  # an empty label, a label over 63 octets, bad IDNA
            qname = None
        if qname is None:
            entry = _permanent(f"5.1.2 invalid domain name {name!r}", NEGATIVE_TTL_CAP)
        else:
            entry = await self._lookup_mx(name, qname)
        self._cache[name] = entry
        return entry

    async def _lookup_mx(self, name: str, qname: dns.name.Name) -> _Entry:
        try:
            answer = await self._query(name, qname, "MX")
        except dns.resolver.NXDOMAIN as error:
            return _permanent(f"5.1.2 domain {name} does not exist (NXDOMAIN)", _nx_ttl(error))
        except dns.resolver.NoAnswer as error:
            return await self._implicit_mx(name, qname, _negative_ttl(error.response()))
        records = sorted(answer, key=lambda mx: _mx(mx).preference)
        groups = tuple(
            tuple(_host(_mx(mx).exchange) for mx in same)
            for _, same in groupby(records, key=lambda mx: _mx(mx).preference)
        )
        # A "." exchange is the null MX; next to real hosts (forbidden by RFC 7505) it is skipped.
        groups = tuple(hosts for group in groups if (hosts := tuple(h for h in group if h)))
        ttl = _ttl(answer)
        if not groups:
            return _permanent(f"5.1.10 {name} accepts no mail (null MX)", ttl)
        return _Entry(groups=groups, error=None, expires=time.monotonic() + ttl)

    async def _implicit_mx(self, name: str, qname: dns.name.Name, mx_ttl: float) -> _Entry:
        """No MX records: the domain itself is the mail host if it has an address."""
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self._query(name, qname, rdtype)
            except dns.resolver.NoAnswer:
                continue
            except dns.resolver.NXDOMAIN as error:
                return _permanent(f"5.1.2 domain {name} does not exist (NXDOMAIN)", _nx_ttl(error))
            ttl = min(_ttl(answer), mx_ttl)  # an MX published later is seen within mx_ttl
            return _Entry(groups=((name,),), error=None, expires=time.monotonic() + ttl)
        return _permanent(f"5.1.2 domain {name} has no MX or address records", mx_ttl)

    async def _query(self, name: str, qname: dns.name.Name, rdtype: str) -> dns.resolver.Answer:
        """One query; NXDOMAIN and NoAnswer pass through, every other failure is temporary."""
        try:
            return await self._resolver.resolve(qname, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            raise
        except dns.exception.Timeout:
            raise TemporaryRouteError(f"4.4.3 DNS lookup for {name} timed out") from None
        except dns.resolver.NoNameservers as error:
            detail = _failures(error) or "no nameserver answered"
            raise TemporaryRouteError(f"4.4.3 DNS lookup for {name} failed: {detail}") from None
        except dns.exception.DNSException as error:
            raise TemporaryRouteError(f"4.4.3 DNS lookup for {name} failed: {error}") from None


def make_resolver(
    nameservers: Sequence[tuple[str, int]], timeout: float
) -> dns.asyncresolver.Resolver:
    try:
        resolver = dns.asyncresolver.Resolver(configure=not nameservers)
    except dns.resolver.NoResolverConfiguration:
        # No /etc/resolv.conf: static routes still work, DNS lookups defer with a clear reason.
        resolver = dns.asyncresolver.Resolver(configure=False)
    if nameservers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in nameservers]
    resolver.lifetime = timeout
    # Leave time for the next nameserver when the first one is down.
    resolver.timeout = min(ATTEMPT_TIMEOUT, timeout / max(len(resolver.nameservers), 1))
    resolver.cache = None  # the Router caches outcomes, not raw answers
    return resolver


def _permanent(reason: str, ttl: float) -> _Entry:
    return _Entry(groups=(), error=reason, expires=time.monotonic() + min(ttl, NEGATIVE_TTL_CAP))


def _mx(rdata: object) -> dns.rdtypes.ANY.MX.MX:
    assert isinstance(rdata, dns.rdtypes.ANY.MX.MX)
    return rdata


def _host(exchange: dns.name.Name) -> str:
    """`mx1.example.com` for `MX1.Example.COM.`; empty for the null MX `.`."""
    return exchange.to_text(omit_final_dot=True).lower() if exchange != dns.name.root else ""


def _ttl(answer: dns.resolver.Answer) -> float:
    """The smallest TTL along the answer (CNAMEs included), as dnspython's own cache uses."""
    return float(answer.chaining_result.minimum_ttl)


def _negative_ttl(response: dns.message.Message | None) -> float:
    """RFC 2308: the SOA in the authority section says how long "no such data" holds."""
    if isinstance(response, dns.message.QueryMessage):
        return float(response.resolve_chaining().minimum_ttl)
    return NEGATIVE_TTL_CAP


def _nx_ttl(error: dns.resolver.NXDOMAIN) -> float:
    responses = list(error.responses().values()) if "responses" in error.kwargs else []
    return _negative_ttl(responses[0] if responses else None)


def _failures(error: dns.resolver.NoNameservers) -> str:
    """`SERVFAIL`, `REFUSED`, ...: what the nameservers answered, each once."""
    answers = [str(failure[3]) for failure in error.kwargs.get("errors", [])]
    return ", ".join(dict.fromkeys(answers))
