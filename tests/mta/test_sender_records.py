"""mta/submission/sender_records.py on its own, for domains stored with each of their options
(SQLite and PostgreSQL): the records it lists are the names that mail from the domain uses (the
DKIM selector, the return path, the tracking host), and once published in a real DNS server
they are what `emailgateway.verifydomain`'s check (dns_tools.verification) accepts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dns_tools.records import DnsRecord, dkim_txt
from dns_tools.verification import verify_records
from mta.submission.sender_records import records_for
from mta.tracking.rewrite import TrackingSettings, plan_for
from storage.accounts import create_user
from storage.domains import (
    DomainChanges,
    add_domain,
    new_dkim_key,
    sender_by_domain_id,
    update_domain,
)
from storage.engine import Database
from storage.models import SenderDomain
from tests.dns_server import DnsServer


@dataclass(frozen=True)
class Settings:
    """What records_for reads of mailgate/config.py's settings."""

    hostname: str = "mx.gateway.test"
    return_path_subdomain: str = "bounces"
    track_prefix: str = "links"


SETTINGS = Settings()


def txt(value: str) -> str:
    """A TXT record text in strings of at most 255 octets (a DKIM key is longer)."""
    return " ".join(f'"{value[i : i + 200]}"' for i in range(0, len(value), 200))


def publish(dns: DnsServer, records: list[DnsRecord]) -> None:
    for record in records:
        if record.type == "TXT":
            dns.set(record.name, "TXT", 60, [txt(record.value)])
        else:
            dns.set(record.name, record.type, 60, [f"{record.value}."])


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


KEY = new_dkim_key()


def domain_with(changes: DomainChanges, name: str = "shop.test") -> SenderDomain:
    """A sender domain as stored with `changes` applied (unsaved: records_for reads only it)."""
    fields = {"name": name, "dkim_selector": "mg1a2b3c4d", "dkim_private_key": KEY}
    fields["track_prefix_disabled"] = False
    fields.update((key, value) for key, value in vars(changes).items() if value is not None)
    return SenderDomain(**fields)


# (the domain's options, the return-path label, the tracking host's label and separator or
# None without one)
OPTIONS = [
    pytest.param(DomainChanges(), "bounces", "links.", id="defaults"),
    pytest.param(DomainChanges(custom_subdomain="rp"), "rp", "links.", id="custom-subdomain"),
    pytest.param(DomainChanges(custom_track_prefix="click"), "bounces", "click.",
                 id="custom-track-prefix"),
    pytest.param(DomainChanges(custom_track_prefix="t", track_merge="-"), "bounces", "t-",
                 id="merged-track-prefix"),
    pytest.param(DomainChanges(custom_subdomain="rp", track_prefix_disabled=True), "rp", None,
                 id="tracking-on-the-return-path"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "return_path", "tracking"), OPTIONS)
def test_the_records_follow_the_domains_options(
    changes: DomainChanges, return_path: str, tracking: str | None
) -> None:
    got = {record.purpose: record for record in records_for(domain_with(changes), SETTINGS)}
    expected = {
        "DKIM": DnsRecord("mg1a2b3c4d._domainkey.shop.test", "TXT", dkim_txt(KEY), "DKIM"),
        "SPF": DnsRecord("shop.test", "TXT", "v=spf1 include:mx.gateway.test ~all", "SPF"),
        "Return-Path (bounces)": DnsRecord(
            f"{return_path}.shop.test", "CNAME", "mx.gateway.test", "Return-Path (bounces)"
        ),
        "DMARC (recommended)": DnsRecord(
            "_dmarc.shop.test", "TXT", "v=DMARC1; p=none;", "DMARC (recommended)"
        ),
    }
    if tracking is not None:
        expected["Tracking"] = DnsRecord(
            f"{tracking}shop.test", "CNAME", "mx.gateway.test", "Tracking"
        )
    assert got == expected


@pytest.mark.parametrize(("changes", "return_path", "tracking"), OPTIONS)
async def test_published_records_are_what_verifydomains_check_accepts(
    dns: DnsServer, changes: DomainChanges, return_path: str, tracking: str | None
) -> None:
    records = records_for(domain_with(changes), SETTINGS)
    before = await verify_records(records, [dns.address], lifetime=2)
    assert [checked.verified for checked in before] == [False] * len(records)

    publish(dns, records)
    after = await verify_records(records, [dns.address], lifetime=2)
    assert [(c.record.purpose, c.verified) for c in after] == [
        (record.purpose, True) for record in records
    ]


async def test_records_of_other_options_are_not_verified_by_the_old_ones(dns: DnsServer) -> None:
    """Changing the return-path subdomain or tracking prefix asks for records at new names:
    what was published for the old options does not pass for them."""
    publish(dns, records_for(domain_with(DomainChanges()), SETTINGS))
    changed = domain_with(DomainChanges(custom_subdomain="rp2", custom_track_prefix="go"))
    checked = await verify_records(records_for(changed, SETTINGS), [dns.address], lifetime=2)
    assert {c.record.purpose: c.verified for c in checked} == {
        "DKIM": True,  # the key stays
        "SPF": True,
        "Return-Path (bounces)": False,
        "DMARC (recommended)": True,
        "Tracking": False,
    }


async def test_stored_domains_get_the_names_their_mail_uses(db: Database) -> None:
    """For sets of options that move every name, stored: the records of the stored domain are
    those of its options, and its mail's tracking URLs and return path use the names they ask
    for. (Three, not all: each domain added generates an RSA key.)"""
    user = await create_user(db, "owner@records.test")
    tracking = TrackingSettings(b"k" * 32, "https://public.test/", "links", "bounces")
    for number, option in enumerate(OPTIONS[0:1] + OPTIONS[3:5]):
        changes = option.values[0]
        assert isinstance(changes, DomainChanges)
        added = await add_domain(db, user.user_id, f"shop{number}.test", "bounces")
        domain, _ = await update_domain(db, added.id, user.user_id, changes, "bounces")
        records = {record.purpose: record for record in records_for(domain, SETTINGS)}
        unsaved = domain_with(changes, domain.name)
        unsaved.dkim_selector, unsaved.dkim_private_key = domain.dkim_selector, KEY
        assert {p: r.name for p, r in records.items()} == {
            record.purpose: record.name for record in records_for(unsaved, SETTINGS)
        }, option.id
        assert records["DKIM"].value == dkim_txt(domain.dkim_private_key)

        sender = await sender_by_domain_id(db, domain.id)
        plan = plan_for(tracking, sender, None)
        assert plan is not None
        host = records["Tracking"] if "Tracking" in records else records["Return-Path (bounces)"]
        assert plan.base_url == f"https://{host.name}", option.id
        assert plan.return_path == records["Return-Path (bounces)"].name, option.id
