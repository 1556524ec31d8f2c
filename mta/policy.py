"""Submission policy as pure decisions over data; the SMTP and HTTP layers word the replies.

Refusals follow the error list of `emailgateway.smtprelay` (codes 3-8), so the SMTP relay command
and the SMTP server give the same answer for the same case.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable

from mta import replies
from mta.replies import Reason, Refused
from storage.domains import SenderContext
from storage.models import DomainStatus, UserStatus


class Refusal(enum.Enum):
    """Why a submission is refused: (smtprelay ErrorCode, SMTP reply with its logged reason)."""

    INVALID_CREDENTIALS = (3, Refused("535 5.7.8 Invalid SMTP credentials", Reason.AUTH_FAILED))
    INVALID_SENDER_DOMAIN = (4, Refused("553 5.7.1 Invalid sender domain", Reason.SENDER_DOMAIN))
    DOMAIN_NOT_ACTIVE = (
        5,
        Refused("550 5.7.1 Sender domain is not active", Reason.SENDER_DOMAIN),
    )
    INVALID_USER = (6, Refused("550 5.7.1 Invalid user account", Reason.SENDER_ACCOUNT))
    USER_NOT_ENABLED = (
        7,
        Refused("550 5.7.1 User is not trusted or not enabled", Reason.SENDER_ACCOUNT),
    )
    RECIPIENT_SUPPRESSED = (
        8,
        Refused("550 5.7.1 Recipient email address is suppressed", Reason.SUPPRESSED),
    )
    SEND_LIMIT = (
        0,
        Refused("451 4.7.1 Sending limit reached; try again later", Reason.SEND_LIMIT),
    )
    RELAY_DENIED = (0, Refused("550 5.7.1 Relay access denied", Reason.RELAY_DENIED))
    AUTH_REQUIRED = (0, replies.AUTH_REQUIRED)

    @property
    def error_code(self) -> int:
        return self.value[0]

    def reply(self, detail: str = "") -> Refused:
        refused: Refused = self.value[1]
        return refused.detailed(detail)


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
