"""Submission policy as pure decisions over data; the SMTP and HTTP layers word the replies.

Refusals follow the error list of `emailgateway.smtprelay` (codes 3-8), so the SMTP relay command
and the SMTP server give the same answer for the same case.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable

from storage.domains import SenderContext
from storage.models import DomainStatus, UserStatus


class Refusal(enum.Enum):
    """Why a submission is refused: (smtprelay ErrorCode, SMTP reply)."""

    INVALID_CREDENTIALS = (3, "535 5.7.8 Invalid SMTP credentials")
    INVALID_SENDER_DOMAIN = (4, "553 5.7.1 Invalid sender domain")
    DOMAIN_NOT_ACTIVE = (5, "550 5.7.1 Sender domain is not active")
    INVALID_USER = (6, "550 5.7.1 Invalid user account")
    USER_NOT_ENABLED = (7, "550 5.7.1 User is not trusted or not enabled")
    RECIPIENT_SUPPRESSED = (8, "550 5.7.1 Recipient email address is suppressed")
    SEND_LIMIT = (0, "451 4.7.1 Sending limit reached; try again later")
    RELAY_DENIED = (0, "550 5.7.1 Relay access denied")
    AUTH_REQUIRED = (0, "530 5.7.0 Authentication required")

    @property
    def error_code(self) -> int:
        return self.value[0]

    def reply(self, detail: str = "") -> str:
        return f"{self.value[1]}: {detail}" if detail else self.value[1]


def within_domain(name: str, parent: str) -> bool:
    """True when `name` is `parent` or one of its subdomains."""
    name, parent = name.lower().rstrip("."), parent.lower().rstrip(".")
    return name == parent or name.endswith("." + parent)


def sender_refusal(sender: SenderContext | None) -> Refusal | None:
    """May this sender domain send at all: registered, Enabled, its owner active and trusted."""
    if sender is None:
        return Refusal.INVALID_SENDER_DOMAIN
    if sender.domain_status is not DomainStatus.ENABLED:
        return Refusal.DOMAIN_NOT_ACTIVE
    if sender.user_status is UserStatus.UNVERIFIED:
        return Refusal.INVALID_USER  # an account not yet confirmed is not a valid one to send
    if sender.user_status is not UserStatus.ACTIVE or not sender.user_trusted:
        return Refusal.USER_NOT_ENABLED
    return None


def address_refusal(sender: SenderContext, address_domains: Iterable[str]) -> Refusal | None:
    """Every sending address (envelope, From:) must be in the sender domain or a subdomain."""
    for domain in address_domains:
        if not within_domain(domain, sender.domain):
            return Refusal.INVALID_SENDER_DOMAIN
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
