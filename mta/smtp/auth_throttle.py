"""Slowing and then refusing clients that keep failing SMTP AUTH (password guessing).

After a few failures from one address each further failure is answered more slowly (a tarpit,
like Postfix's smtpd_error_sleep_time); after `limit` failures within the window the address is
refused for `lockout` seconds. The counts are kept in the database (storage.auth_failures), so
the limit holds across the SMTP worker processes of a node, across nodes sharing PostgreSQL,
and across reconnections. They are per client address (an IPv6 client's /64), never per
username: failures from elsewhere cannot lock a user out of the addresses it sends from (as
Postfix's anvil limits count per client). A success does not wipe the count: with one valid
credential of its own, a client could otherwise go on guessing other users' passwords between
its own logins.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import auth_failures
from storage.engine import Database
from storage.models import utcnow
from storage.password_checks import PASSWORD_CHECKS, PasswordChecks

FREE_FAILURES = 2
MAX_DELAY = 5.0
# An IPv6 client is given a whole /64 (an end site usually more): counted per address, it could
# change address at each guess. Its failures count per /64, one subnet. (Postfix 3.8 groups its
# per-client limits by /84, smtpd_client_ipv6_prefix_length; for password guessing that still
# leaves 4096 fresh counts in one /64.)
IPV6_PREFIX = 64


@dataclass(frozen=True)
class Failure:
    """What a counted failure means for the client: how late to answer it, and whether its
    address is now locked out."""

    delay: float
    locked: bool


@dataclass
class AuthThrottle:
    db: Database
    limit: int
    lockout: float
    delay_step: float
    clock: Callable[[], datetime] = utcnow
    checks: PasswordChecks = PASSWORD_CHECKS  # the process's bound on argon2 verifications

    async def is_locked(self, ip: str) -> bool:
        until = await auth_failures.locked_until(self.db, client_key(ip))
        return until is not None and until > self.clock()

    async def failed(self, ip: str) -> Failure:
        """Record a failure from `ip`."""
        span = timedelta(seconds=self.lockout)
        count = await auth_failures.record_failure(
            self.db, client_key(ip), self.clock(), window=span, limit=self.limit, lockout=span
        )
        extra = count - FREE_FAILURES
        delay = min(MAX_DELAY, extra * self.delay_step) if extra > 0 else 0.0
        return Failure(delay, locked=count >= self.limit and self.lockout > 0)


def client_key(ip: str) -> str:
    """Whom failures from `ip` are counted for: an IPv4 address (IPv4-mapped IPv6 included) as
    itself, an IPv6 address by its /64 network."""
    try:
        address = ipaddress.ip_address(ip.partition("%")[0])  # without a zone index
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
