"""Issue 16: `mailgate suppression list|remove`, as an operator runs them: every account's and the
global entries (or one account's with --account), JSON lines on stdout, the filters, removal
of an address's every entry (or one account's), one line on stderr and exit 1 for an address
that is not on the list, and an argparse refusal for an address no entry can have."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Gateway, make_gateway


@dataclass(frozen=True)
class Installation:
    gateway: Gateway
    owner: int
    other: int
    domain_id: int  # the owner's


@pytest.fixture
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    gateway = make_gateway(tmp_path_factory.mktemp("cli-suppressions"))
    owner = int(gateway.json("user", "add", "owner@cli-supp.test")["UserID"])
    other = int(gateway.json("user", "add", "other@cli-supp.test")["UserID"])
    domain = gateway.json("domain", "add", "cli-supp.example", "--user", str(owner))
    for address, scope, user_id, domain_id, reason, source in (
        ("gone@dest.test", "account", owner, None, "bad-mailbox", "dsn"),
        ("shared@dest.test", "account", owner, None, "bad-domain", "delivery"),
        ("left@dest.test", "domain", None, domain["DomainID"], "unsubscribed", "unsubscribe"),
        ("shared@dest.test", "account", other, None, "complaint", "fbl"),
        ("shared@dest.test", "global", None, None, "blocked", "operator"),
    ):
        gateway.sql(
            "INSERT INTO suppressions (address, scope, user_id, sender_domain_id, reason, "
            "source, created_at) VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
            address, scope, user_id, domain_id, reason, source,
        )  # fmt: skip
    yield Installation(gateway, owner, other, int(domain["DomainID"]))


def lines(gateway: Gateway, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gateway.cli(*args).stdout.splitlines()]


def test_list_shows_every_entry_newest_first_and_narrows(inst: Installation) -> None:
    every = lines(inst.gateway, "suppression", "list")
    assert [(e["Address"], e["Scope"], e["UserID"]) for e in every] == [
        ("shared@dest.test", "global", None),
        ("shared@dest.test", "account", inst.other),
        ("left@dest.test", "domain", None),
        ("shared@dest.test", "account", inst.owner),
        ("gone@dest.test", "account", inst.owner),
    ]
    assert set(every[0]) == {
        "Address", "Reason", "Category", "Source", "Scope", "DomainID", "SenderDomain",
        "SuppressedAt", "UserID",
    }  # fmt: skip
    assert (every[2]["DomainID"], every[2]["SenderDomain"]) == (inst.domain_id, "cli-supp.example")
    assert (every[3]["Reason"], every[3]["Category"]) == ("bad-domain", "bad-domain")
    owners = lines(inst.gateway, "suppression", "list", "--account", str(inst.owner))
    assert [e["Address"] for e in owners] == [
        "left@dest.test",
        "shared@dest.test",
        "gone@dest.test",
    ]
    shared = lines(inst.gateway, "suppression", "list", "--address", "SHARED@dest.test")
    assert [e["Reason"] for e in shared] == ["blocked", "complaint", "bad-domain"]
    by_reason = lines(inst.gateway, "suppression", "list", "--reason", "complaint")
    assert [(e["Address"], e["UserID"]) for e in by_reason] == [("shared@dest.test", inst.other)]
    assert lines(inst.gateway, "suppression", "list", "--limit", "2")[1]["UserID"] == inst.other
    assert inst.gateway.cli("suppression", "list", "--reason", "nothing").stdout == ""


def test_remove_takes_off_one_accounts_entries_or_every_entry(inst: Installation) -> None:
    gateway = inst.gateway
    removed = gateway.json(
        "suppression", "remove", "Shared@dest.test", "--account", str(inst.owner)
    )
    assert removed == {"Address": "shared@dest.test", "Removed": 1}
    left = lines(gateway, "suppression", "list", "--address", "shared@dest.test")
    assert [e["Scope"] for e in left] == ["global", "account"]
    assert gateway.json("suppression", "remove", "shared@dest.test") == {
        "Address": "shared@dest.test",
        "Removed": 2,
    }
    # the account's domain's entry is the account's
    assert (
        gateway.json("suppression", "remove", "left@dest.test", "--account", str(inst.owner))[
            "Removed"
        ]
        == 1
    )
    missing = gateway.cli(
        "suppression", "remove", "gone@dest.test", "--account", str(inst.other), check=False
    )
    assert (missing.returncode, missing.stdout) == (1, "")
    assert (
        missing.stderr.strip()
        == f"gone@dest.test is not on the suppression list of account {inst.other}"
    )
    assert [e["Address"] for e in lines(gateway, "suppression", "list")] == ["gone@dest.test"]


def test_an_address_no_entry_can_have_is_refused(inst: Installation) -> None:
    for args in (("remove", "a" * 255), ("remove", " "), ("list", "--address", "a" * 255)):
        refused = inst.gateway.cli("suppression", *args, check=False)
        assert refused.returncode == 2 and "1 to 254 characters" in refused.stderr, args
        assert refused.stdout == ""
    assert len(lines(inst.gateway, "suppression", "list")) == 5
