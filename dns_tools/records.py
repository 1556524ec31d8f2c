"""The DNS records a sender domain publishes so that its mail authenticates (DKIM, SPF, DMARC)
and its bounces and tracking hits reach Mailgate."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str
    value: str
    purpose: str

    def as_dict(self) -> dict[str, str]:
        return {"Name": self.name, "Type": self.type, "Value": self.value, "Purpose": self.purpose}


def dkim_public_key(private_key_pem: str) -> str:
    """The base64 SubjectPublicKeyInfo that goes into the `p=` tag."""
    key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def dkim_txt(private_key_pem: str) -> str:
    return f"v=DKIM1; k=rsa; p={dkim_public_key(private_key_pem)}"


def sender_domain_records(
    domain: str,
    selector: str,
    private_key_pem: str,
    gateway_host: str,
    return_path_domain: str,
    tracking_host: str | None,
) -> list[DnsRecord]:
    """What `mailgate domain add` and `emailgateway.verifydomain` ask the user to publish."""
    records = [
        DnsRecord(f"{selector}._domainkey.{domain}", "TXT", dkim_txt(private_key_pem), "DKIM"),
        DnsRecord(domain, "TXT", f"v=spf1 include:{gateway_host} ~all", "SPF"),
        DnsRecord(return_path_domain, "CNAME", gateway_host, "Return-Path (bounces)"),
        DnsRecord(f"_dmarc.{domain}", "TXT", "v=DMARC1; p=none;", "DMARC (recommended)"),
    ]
    if tracking_host:
        records.append(DnsRecord(tracking_host, "CNAME", gateway_host, "Tracking"))
    return records
