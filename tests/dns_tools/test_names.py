"""Domain names users register: lower-case A-labels by IDNA 2008 (UTS 46), or refused."""

from __future__ import annotations

import pytest

from dns_tools.names import InvalidDomain, dns_label, normalize_domain


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Example.COM.", "example.com"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("straße.example", "xn--strae-oqa.example"),  # IDNA 2003 would make it strasse
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        (" mail.example.org ", "mail.example.org"),
    ],
)
def test_names_are_normalised(given: str, stored: str) -> None:
    assert normalize_domain(given) == stored


@pytest.mark.parametrize(
    "given",
    ["", "nodot", "bad-.example", "-bad.example", "a..b.example", "under_score.example",
     "x" * 64 + ".example", "1.2.3.4", "example.123", "white space.example"],
)  # fmt: skip
def test_bad_names_are_refused(given: str) -> None:
    with pytest.raises(InvalidDomain):
        normalize_domain(given)


def test_subdomain_labels() -> None:
    assert dns_label("Bounces") == "bounces"
    for bad in ("-x", "x-", "bü", "a.b", "x" * 33, ""):
        with pytest.raises(ValueError):
            dns_label(bad)
