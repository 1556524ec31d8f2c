"""Checking a sender domain's DNS records against what it was asked to publish
(`dns_tools.records.sender_domain_records`), through the configured resolver.

Each record is checked for what makes it work, not for byte equality: the DKIM key's `p=`,
an SPF policy that includes the gateway, a return-path CNAME to the gateway (or MX records
pointing at it), the tracking CNAME, and whether any DMARC policy exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver

from dns_tools.records import DnsRecord
from dns_tools.routing import make_resolver


@dataclass(frozen=True)
class Checked:
    record: DnsRecord
    verified: bool


def _clean(name: str) -> str:
    return name.rstrip(".").lower()


async def _answers(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> list[str]:
    """The record texts at `name` (TXT strings joined), or [] when there are none or DNS
    fails (a failed lookup proves nothing is published)."""
    try:
        answer = await resolver.resolve(name, rdtype, search=False)
    except dns.exception.DNSException:
        return []
    if rdtype == "TXT":
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
    if rdtype == "MX":
        return [_clean(rdata.exchange.to_text()) for rdata in answer]
    return [_clean(rdata.to_text()) for rdata in answer]


def _dkim_key(text: str) -> str:
    match = re.search(r"(?:^|;)\s*p=([^;]*)", text)
    return re.sub(r"\s+", "", match.group(1)) if match else ""


async def _check(resolver: dns.asyncresolver.Resolver, record: DnsRecord) -> bool:
    if record.purpose == "DKIM":
        wanted = _dkim_key(record.value)
        return any(
            _dkim_key(text) == wanted for text in await _answers(resolver, record.name, "TXT")
        )
    if record.purpose == "SPF":
        include = record.value.split("include:", 1)[1].split()[0].lower()
        return any(
            text.lower().startswith("v=spf1") and f"include:{include}" in text.lower()
            for text in await _answers(resolver, record.name, "TXT")
        )
    if record.purpose.startswith("DMARC"):
        texts = await _answers(resolver, record.name, "TXT")
        return any(text.upper().startswith("V=DMARC1") for text in texts)
    target = _clean(record.value)
    if target in await _answers(resolver, record.name, "CNAME"):
        return True
    # A return-path domain may receive its bounces through MX records instead.
    return record.purpose.startswith("Return-Path") and target in await _answers(
        resolver, record.name, "MX"
    )


async def verify_records(
    records: Sequence[DnsRecord], nameservers: Sequence[tuple[str, int]], lifetime: float = 5.0
) -> list[Checked]:
    resolver = make_resolver(nameservers, lifetime)
    return [Checked(record, await _check(resolver, record)) for record in records]
