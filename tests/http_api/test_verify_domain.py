"""`emailgateway.verifydomain` against a real DNS server on loopback: nothing published, the
domain stays pending; the records `domain add` asked for published, it becomes Enabled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import make_gateway
from tests.dns_server import DnsServer
from tests.http_api.conftest import Api, serving


@dataclass
class Setup:
    api: Api
    dns: DnsServer


def txt(value: str) -> str:
    """A TXT record text, split into strings of at most 255 octets (a DKIM key is longer)."""
    return " ".join(f'"{value[i : i + 200]}"' for i in range(0, len(value), 200))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with DnsServer() as dns:
        gateway = make_gateway(
            tmp_path_factory.mktemp("verify"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_NAMESERVERS=f"127.0.0.1:{dns.port}",
        )
        owner = gateway.json("user", "add", "owner@verify.test")
        with serving(gateway) as client:
            api = Api.of(gateway, client, owner, owner)
            yield Setup(api, dns)


def publish(dns: DnsServer, records: list[dict[str, str]], return_path_as_mx: bool = False) -> None:
    for record in records:
        if record["Type"] == "TXT":
            dns.set(record["Name"], "TXT", 60, [txt(record["Value"])])
        elif return_path_as_mx and record["Purpose"].startswith("Return-Path"):
            dns.set(record["Name"], "MX", 60, [f"10 {record['Value']}."])
        else:
            dns.set(record["Name"], "CNAME", 60, [f"{record['Value']}."])


def add(setup: Setup, name: str) -> dict[str, Any]:
    user = setup.api.user_id
    return setup.api.gateway.json("domain", "add", name, "--user", str(user))


def test_a_domain_is_enabled_once_its_records_are_published(setup: Setup) -> None:
    added = add(setup, "shop.example")
    pending = setup.api.call("emailgateway.verifydomain", DomainID=added["DomainID"])
    assert pending["Success"] is True
    got = setup.api.call("emailgateway.getdomain", DomainID=added["DomainID"])
    assert pending["Domain"] == got["Domain"]  # one view of a domain for both commands
    shown = ("DomainID", "SenderDomain", "DomainName", "Status", "Verified")
    assert {name: pending["Domain"][name] for name in shown} == {
        "DomainID": added["DomainID"],
        "SenderDomain": "shop.example",
        "DomainName": "shop.example",  # 004's name
        "Status": "Approval Pending",
        "Verified": False,
    }
    records = {record["Name"]: record for record in added["DNSRecords"]}
    assert set(pending["DNSVerificationResults"]) == set(records)
    assert not any(result[2] for result in pending["DNSVerificationResults"].values())

    publish(setup.dns, added["DNSRecords"])
    verified = setup.api.call("emailgateway.verifydomain", DomainID=added["DomainID"])
    assert verified["Domain"]["Status"] == "Enabled"
    assert verified["Domain"]["DomainName"] == "shop.example"
    assert verified["Domain"]["Verified"] is verified["Domain"]["Active"] is True
    for name, (kind, value, ok) in verified["DNSVerificationResults"].items():
        assert (kind, value, ok) == (records[name]["Type"], records[name]["Value"], True)
    assert setup.api.call("emailgateway.getdomain", DomainID=added["DomainID"])["Domain"][
        "IsActive"
    ]
    listed = setup.api.call("emailgateway.getdomains")["Domains"]
    [entry] = [domain for domain in listed if domain["DomainID"] == added["DomainID"]]
    assert (entry["Verified"], entry["Active"]) == (True, True)  # 004's fields


def test_a_wrong_dkim_key_or_missing_spf_keeps_it_pending(setup: Setup) -> None:
    added = add(setup, "half.example")
    publish(setup.dns, [r for r in added["DNSRecords"] if r["Purpose"] != "SPF"])
    dkim = next(r for r in added["DNSRecords"] if r["Purpose"] == "DKIM")
    setup.dns.set(dkim["Name"], "TXT", 60, [txt("v=DKIM1; k=rsa; p=AAAAnotthekey")])
    answer = setup.api.call("emailgateway.verifydomain", DomainID=added["DomainID"])
    assert answer["Domain"]["Status"] == "Approval Pending"
    results = answer["DNSVerificationResults"]
    assert results[dkim["Name"]][2] is False and results["half.example"][2] is False


def test_the_return_path_may_be_an_mx_record(setup: Setup) -> None:
    added = add(setup, "mx-path.example")
    publish(setup.dns, added["DNSRecords"], return_path_as_mx=True)
    answer = setup.api.call("emailgateway.verifydomain", DomainID=added["DomainID"])
    assert answer["Domain"]["Status"] == "Enabled"


def test_verify_errors(setup: Setup) -> None:
    assert setup.api.call("emailgateway.verifydomain")["ErrorCode"] == 1
    assert setup.api.call("emailgateway.verifydomain", DomainID=999999)["ErrorCode"] == 2
