"""Submission policy as pure decisions over data, each answering with the `Reason` it refuses
for (or None). The submission path raises them (mta/submission/submit.py); each surface words a
reason through its own one table (SMTP replies, smtprelay ErrorCodes, /api/v1 and /rest codes).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from mta.replies import Reason
from storage.domains import SenderContext
from storage.models import DomainStatus, UserStatus

# RFC 5321 4.5.3.1.3: a path is at most 256 octets, brackets included.
MAX_ADDRESS_OCTETS = 254
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_address(text: str) -> bool:
    """`local@domain`, both parts present, at most 254 octets of UTF-8, no control character
    (RFC 5321 4.1.2 allows none, NUL included, even quoted). Whether its characters may be
    non-ASCII is the protocol's question (SMTPUTF8), not this one."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept as lone surrogates
        return False
    local, at, domain = text.rpartition("@")
    if not (at and local and domain) or size > MAX_ADDRESS_OCTETS:
        return False
    return _CONTROL.search(text) is None


def is_null_sender(text: str) -> bool:
    """The null reverse-path (RFC 5321 4.5.5: bounces and other notifications), as aiosmtpd
    gives it (`<>`) or an API leaves it (empty)."""
    return text in ("", "<>")


def size_refusal(size: int, limit: int) -> Reason | None:
    """A message (or an announced SIZE=) may be at most `limit` octets."""
    return Reason.SIZE if size > limit else None


def recipient_count_refusal(count: int, limit: int) -> Reason | None:
    """A message goes to at least one recipient and at most `limit`."""
    if count <= 0:
        return Reason.NO_RECIPIENTS
    return Reason.RECIPIENTS if count > limit else None


def within_domain(name: str, parent: str) -> bool:
    """True when `name` is `parent` or one of its subdomains."""
    name, parent = name.lower().rstrip("."), parent.lower().rstrip(".")
    return name == parent or name.endswith("." + parent)


def sender_refusal(sender: SenderContext | None) -> Reason | None:
    """May this sender domain send at all: registered, Enabled, its owner confirmed, trusted and
    active."""
    if sender is None:
        return Reason.SENDER_DOMAIN
    if sender.domain_status is not DomainStatus.ENABLED:
        return Reason.DOMAIN_INACTIVE
    if sender.user_status is UserStatus.UNVERIFIED:
        return Reason.ACCOUNT_UNVERIFIED  # an account not yet confirmed is not a valid one
    if not sender.user_trusted:
        return Reason.ACCOUNT_UNTRUSTED
    if sender.user_status is not UserStatus.ACTIVE:
        return Reason.ACCOUNT_DISABLED
    return None


def address_refusal(sender: SenderContext, address_domains: Iterable[str]) -> Reason | None:
    """Every sending address (envelope, From:, Sender:) must be in the sender domain or one of
    its subdomains."""
    for domain in address_domains:
        if not within_domain(domain, sender.domain):
            return Reason.SENDER_ADDRESS
    return None


def in_networks(ip: str, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def is_loopback(ip: str) -> bool:
    return in_networks(ip, (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")))
