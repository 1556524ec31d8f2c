"""The operator's commands, run as a user runs them: `mailgate ...` subprocesses on a data
directory, their JSON on stdout, their explanations on stderr, and what they stored."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from storage.tokens import token_hash
from tests.conftest import Gateway, make_gateway

DOMAIN_FIELDS = {
    "DomainID",
    "SenderDomain",
    "Status",
    "ReturnPathDomain",
    "DKIMSelector",
    "DNSRecords",
    "Warnings",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    """One data directory, created by `mailgate init`, shared by the tests of this module; its
    store is SQLite whatever MAILGATE_TEST_GATEWAY_DB says, as the tests read its files."""
    return make_gateway(tmp_path_factory.mktemp("cli") / "data", store="sqlite")


@pytest.fixture(scope="module")
def user_id(gateway: Gateway) -> int:
    return int(gateway.json("user", "add", "Owner@CLI.example")["UserID"])


def database_bytes(data_dir: Path) -> bytes:
    """Everything SQLite holds on disk (main file and write-ahead log)."""
    return b"".join(
        path.read_bytes() for path in data_dir.glob("mailgate.db*") if path.suffix != ".writelock"
    )


def snapshot(data_dir: Path) -> Iterator[tuple[str, bytes]]:
    for name in ("mailgate.toml", "admin.key", "tls/cert.pem", "tls/key.pem"):
        yield name, (data_dir / name).read_bytes()


def private_mode(path: Path) -> bool:
    """Neither group nor others may read it."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_init_creates_everything_once(gateway: Gateway) -> None:
    data = gateway.data_dir
    assert data.is_dir() and private_mode(data)
    assert stat.S_IMODE((data / "admin.key").stat().st_mode) == 0o600
    assert private_mode(data / "tls" / "key.pem")
    cert = x509.load_pem_x509_certificate((data / "tls" / "cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "mx.mailgate.test" in names.get_values_for_type(x509.DNSName)
    assert "smtp_port" in (data / "mailgate.toml").read_text()
    tables = {row[0] for row in gateway.sql("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "sender_domains", "messages", "deliveries", "alembic_version"} <= tables
    before = dict(snapshot(data))
    admin = gateway.json("admin-key")["AdminAPIKey"]

    again = gateway.cli("init")
    assert "wrote" not in again.stderr and "created" not in again.stderr
    assert dict(snapshot(data)) == before
    assert gateway.json("admin-key")["AdminAPIKey"] == admin


def test_admin_key_is_stored_hashed_and_rotates(gateway: Gateway) -> None:
    first = gateway.json("admin-key")["AdminAPIKey"]
    assert first.encode() not in database_bytes(gateway.data_dir)

    rotated = gateway.json("admin-key", "--rotate")["AdminAPIKey"]
    assert rotated != first
    assert gateway.json("admin-key")["AdminAPIKey"] == rotated
    stored = gateway.sql("SELECT key_hash FROM api_keys WHERE kind = 'admin'")
    assert stored == [(token_hash(rotated),)]  # only the new key opens the admin API
    assert rotated.encode() not in database_bytes(gateway.data_dir)


def test_user_add_prints_id_and_key_and_refuses_duplicates(gateway: Gateway, user_id: int) -> None:
    user = gateway.json("user", "add", "second@cli.example")
    assert isinstance(user["UserID"], int) and user["UserID"] != user_id
    assert len(user["APIKey"]) >= 32
    assert user["APIKey"].encode() not in database_bytes(gateway.data_dir)
    stored = gateway.sql("SELECT key_hash FROM api_keys WHERE user_id = ?", user["UserID"])
    assert stored == [(token_hash(user["APIKey"]),)]

    again = gateway.cli("user", "add", "OWNER@cli.example", check=False)
    assert again.returncode == 1
    assert f"exists (UserID {user_id})" in again.stderr
    assert gateway.sql("SELECT count(*) FROM users WHERE email LIKE 'owner@%'") == [(1,)]


def test_domain_add_prints_the_records_that_verify_the_stored_key(
    gateway: Gateway, user_id: int
) -> None:
    domain = gateway.json("domain", "add", "Mail.CLI.example", "--user", str(user_id))
    assert set(domain) == DOMAIN_FIELDS
    assert domain["SenderDomain"] == "mail.cli.example"
    assert domain["Status"] == "Approval Pending"
    assert domain["ReturnPathDomain"] == "bounces.mail.cli.example"
    records = {record["Purpose"]: record for record in domain["DNSRecords"]}
    dkim = records["DKIM"]
    assert dkim["Name"] == f"{domain['DKIMSelector']}._domainkey.mail.cli.example"
    assert dkim["Type"] == "TXT"
    assert records["SPF"]["Value"].startswith("v=spf1 include:mx.mailgate.test")
    assert records["Return-Path (bounces)"]["Name"] == "bounces.mail.cli.example"

    [(selector, pem)] = gateway.sql(
        "SELECT dkim_selector, dkim_private_key FROM sender_domains WHERE id = ?",
        domain["DomainID"],
    )
    assert selector == domain["DKIMSelector"]
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert key.key_size == 2048  # type: ignore[union-attr]
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert dkim["Value"] == f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"
    relay = gateway.sql("SELECT name FROM inbound_relay_domains")
    assert ("bounces.mail.cli.example",) in relay


def test_domain_add_stores_international_names_in_ascii(gateway: Gateway, user_id: int) -> None:
    domain = gateway.json("domain", "add", "Bücher.example", "--user", str(user_id))
    assert domain["SenderDomain"] == "xn--bcher-kva.example"
    assert domain["ReturnPathDomain"] == "bounces.xn--bcher-kva.example"
    count = "SELECT count(*) FROM sender_domains WHERE name = ?"
    assert gateway.sql(count, "xn--bcher-kva.example") == [(1,)]


@pytest.mark.parametrize(
    "name", ["-bad-.example", "no_tld", "nodot", "a..b.example", "under_score.example"]
)
def test_domain_add_refuses_invalid_names(gateway: Gateway, user_id: int, name: str) -> None:
    # `--` so that a leading hyphen reaches the name check instead of argparse's option parsing
    result = gateway.cli("domain", "add", "--user", str(user_id), "--", name, check=False)
    assert result.returncode == 1
    assert f"invalid domain name: {name!r}" in result.stderr
    assert gateway.sql("SELECT count(*) FROM sender_domains WHERE name = ?", name) == [(0,)]


def test_domain_add_return_path_subdomain_is_one_lower_case_label(
    gateway: Gateway, user_id: int
) -> None:
    """Bounces are matched against the relay domain in lower case; a bad label never resolves."""
    domain = gateway.json(
        "domain", "add", "own-bounces.example", "--user", str(user_id), "--subdomain", "Returns"
    )
    assert domain["ReturnPathDomain"] == "returns.own-bounces.example"
    relay = gateway.sql("SELECT name FROM inbound_relay_domains")
    assert ("returns.own-bounces.example",) in relay

    bad = gateway.cli(
        "domain", "add", "badsub.example", "--user", str(user_id), "--subdomain", "bad name",
        check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "invalid --subdomain 'bad name'" in bad.stderr
    count = "SELECT count(*) FROM sender_domains WHERE name = ?"
    assert gateway.sql(count, "badsub.example") == [(0,)]


def test_domain_add_refuses_unknown_users_and_duplicates(gateway: Gateway, user_id: int) -> None:
    unknown = gateway.cli("domain", "add", "nobody.example", "--user", "999999", check=False)
    assert unknown.returncode == 1 and "999999" in unknown.stderr
    count = "SELECT count(*) FROM sender_domains WHERE name = ?"
    assert gateway.sql(count, "nobody.example") == [(0,)]

    gateway.json("domain", "add", "twice.example", "--user", str(user_id))
    again = gateway.cli("domain", "add", "TWICE.example", "--user", str(user_id), check=False)
    assert again.returncode == 1 and "twice.example" in again.stderr
    assert gateway.sql(count, "twice.example") == [(1,)]


def test_domain_enable_and_disable(gateway: Gateway, user_id: int) -> None:
    domain_id = gateway.json("domain", "add", "toggle.example", "--user", str(user_id))["DomainID"]
    assert gateway.json("domain", "enable", str(domain_id)) == {
        "DomainID": domain_id,
        "Status": "Enabled",
    }
    assert gateway.json("domain", "disable", str(domain_id))["Status"] == "Disabled"
    [(status,)] = gateway.sql("SELECT status FROM sender_domains WHERE id = ?", domain_id)
    assert status == "Disabled"

    missing = gateway.cli("domain", "enable", "999999", check=False)
    assert missing.returncode == 1 and "999999" in missing.stderr


def test_smtp_add_shows_the_password_once_and_stores_an_argon2_hash(
    gateway: Gateway, user_id: int
) -> None:
    domain_id = gateway.json("domain", "add", "smtp.example", "--user", str(user_id))["DomainID"]
    result = gateway.cli("smtp", "add", "--domain", str(domain_id))
    credential = json.loads(result.stdout)
    username, password = credential["SMTPUsername"], credential["SMTPPassword"]
    assert len(password) >= 20
    assert password not in result.stderr
    [(stored,)] = gateway.sql(
        "SELECT password_hash FROM smtp_credentials WHERE username = ?", username
    )
    assert stored.startswith("$argon2id$")
    assert password.encode() not in database_bytes(gateway.data_dir)

    missing = gateway.cli("smtp", "add", "--domain", "999999", check=False)
    assert missing.returncode == 1 and "999999" in missing.stderr
    assert gateway.sql("SELECT count(*) FROM smtp_credentials WHERE domain_id = 999999") == [(0,)]


def test_sms_sender_names_are_added_then_confirmed(gateway: Gateway, user_id: int) -> None:
    added = gateway.json("sms", "sender", "add", str(user_id), "My Shop")
    assert added == {"UserID": user_id, "Name": "My Shop", "Status": "unconfirmed"}
    confirmed = gateway.json("sms", "sender", "confirm", str(user_id), "My Shop")
    assert confirmed == {**added, "Status": "confirmed"}
    assert gateway.json("sms", "sender", "add", str(user_id), "My Shop") == confirmed
    [(stored,)] = gateway.sql("SELECT confirmed_at FROM sms_senders WHERE user_id = ?", user_id)
    assert stored is not None

    for args, shown in [
        (("add", str(user_id), "Twelve chars"), "Twelve chars"),
        (("add", str(user_id), "Sklep ą"), "Sklep ą"),
        (("add", "999999", "Shop"), "999999"),
        (("confirm", str(user_id), "Unknown"), "add it first"),
    ]:
        refused = gateway.cli("sms", "sender", *args, check=False)
        assert refused.returncode == 1 and shown in refused.stderr, refused.stderr
    assert gateway.sql("SELECT name FROM sms_senders") == [("My Shop",)]


def test_domain_add_warns_beside_the_records_when_they_point_at_a_private_name(
    gateway: Gateway, user_id: int
) -> None:
    result = gateway.cli("domain", "add", "warned.example", "--user", str(user_id))
    domain = json.loads(result.stdout)
    spf = next(r for r in domain["DNSRecords"] if r["Purpose"] == "SPF")
    assert "include:mx.mailgate.test" in spf["Value"]
    hostname, public_url = domain["Warnings"]
    assert "hostname is 'mx.mailgate.test', not a public DNS name" in hostname
    assert "MAILGATE_HOSTNAME" in hostname and "MAILGATE_PUBLIC_URL" in public_url
    assert f"WARNING: {hostname}" in result.stderr
    shown = gateway.json("domain", "show", str(domain["DomainID"]))
    assert shown["Warnings"] == domain["Warnings"]

    production = {
        "MAILGATE_HOSTNAME": "mx.example.com",
        "MAILGATE_PUBLIC_URL": "https://t.example.com",
    }
    quiet = gateway.cli("domain", "show", str(domain["DomainID"]), env=production)
    assert json.loads(quiet.stdout)["Warnings"] == [] and "WARNING" not in quiet.stderr
