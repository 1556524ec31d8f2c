"""The DNS records a sender domain publishes, from its stored options and the gateway's
settings: what `mailgate domain add` prints and `emailgateway.verifydomain` checks."""

from __future__ import annotations

from typing import Protocol

from dns_tools.records import DnsRecord, sender_domain_records
from storage import domains
from storage.models import SenderDomain


class RecordSettings(Protocol):
    """The gateway's settings the records name (mailgate.config.Settings and http_api's
    HttpSettings have them)."""

    @property
    def hostname(self) -> str: ...
    @property
    def return_path_subdomain(self) -> str: ...
    @property
    def track_prefix(self) -> str: ...


def records_for(domain: SenderDomain, settings: RecordSettings) -> list[DnsRecord]:
    return sender_domain_records(
        domain.name,
        domain.dkim_selector,
        domain.dkim_private_key,
        settings.hostname,
        domains.return_path_domain(domain, settings.return_path_subdomain),
        domains.tracking_host(domain, settings.track_prefix),
    )
