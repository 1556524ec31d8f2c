"""The DNS records a sender domain publishes, from its stored options and the gateway's
settings: what `mailgate domain add` prints and `emailgateway.verifydomain` checks."""

from __future__ import annotations

from typing import Any

from dns_tools.records import DnsRecord, sender_domain_records
from storage import domains
from storage.models import SenderDomain


def records_for(domain: SenderDomain, settings: Any) -> list[DnsRecord]:
    """`settings` needs `hostname`, `return_path_subdomain` and `track_prefix`."""
    return sender_domain_records(
        domain.name,
        domain.dkim_selector,
        domain.dkim_private_key,
        settings.hostname,
        domains.return_path_domain(domain, settings.return_path_subdomain),
        domains.tracking_host(domain, settings.track_prefix),
    )
