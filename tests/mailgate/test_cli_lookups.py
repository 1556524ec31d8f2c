"""What operators look up daily, as they run it: `mailgate user|domain|smtp|queue list/show/
delete` against a running gateway that real mail was submitted to, their JSON on stdout, one
line on stderr for an id that names nothing, and never a secret in the output."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from storage.models import DeliveryStatus
from tests.conftest import Gateway, make_gateway
from tests.mta.conftest import Sender, add_sender
from tests.mta.support import logged_in, message, queued_id, send, smtp_auth, submission

MISSING = "999999"


@dataclass(frozen=True)
class Installation:
    gateway: Gateway
    user_id: int
    sender: Sender  # an Enabled domain with one SMTP credential


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """One running gateway for the module; nothing delivers, so submitted mail stays queued."""
    gateway = make_gateway(tmp_path_factory.mktemp("lookups"), MAILGATE_SMTP_PROCESSES="1")
    user_id = int(gateway.json("user", "add", "Lookup@Owner.example")["UserID"])
    sender = add_sender(gateway, user_id, "lookups.example")
    gateway.start()
    try:
        yield Installation(gateway, user_id, sender)
    finally:
        gateway.stop()


def lines(gateway: Gateway, *args: str) -> list[dict[str, Any]]:
    """A listing: one JSON document per line of stdout."""
    return [json.loads(line) for line in gateway.cli(*args).stdout.splitlines()]


def submit(inst: Installation, sender: Sender, recipients: list[str], subject: str) -> uuid.UUID:
    """Mail submitted with AUTH on the submission port; returns its queue id."""
    port = inst.gateway.ports["submission"]
    with logged_in(port, sender.username, sender.password) as smtp:
        content = message(sender.address, recipients[0], subject=subject, body="Body text.")
        return queued_id(send(smtp, sender.address, content, recipients))


def auth_reply(inst: Installation, username: str, password: str) -> str:
    with submission(inst.gateway.ports["submission"]) as smtp:
        code, text = smtp_auth(smtp, "PLAIN", username, password)
    return f"{code} {text.decode()}"


def test_user_list_shows_accounts_and_no_secrets(inst: Installation) -> None:
    added = inst.gateway.json("user", "add", "second@owner.example", "--password", "pw-0123456789")
    result = inst.gateway.cli("user", "list")
    users = {user["Email"]: user for user in map(json.loads, result.stdout.splitlines())}
    owner, second = users["lookup@owner.example"], users["second@owner.example"]
    assert owner["UserID"] == inst.user_id and second["UserID"] == added["UserID"]
    assert set(second) == {
        "UserID", "Email", "Status", "Active", "Trusted", "Permissions", "ParentUserID",
        "SendLimitHourly", "SendLimitDaily", "CreatedAt",
    }  # fmt: skip
    assert (second["Status"], second["Active"]) == ("active", True)
    assert second["Permissions"] == ["EmailGateway.AddDomain", "EmailGateway.ManageDomain"]
    assert datetime.fromisoformat(second["CreatedAt"]).tzinfo is not None
    for secret in (added["APIKey"], added["RestApiKey"], "pw-0123456789", "$argon2"):
        assert secret not in result.stdout


def test_domain_list_shows_owner_and_state_and_show_the_records(inst: Installation) -> None:
    other_user = inst.gateway.json("user", "add", "other@owner.example")["UserID"]
    other = inst.gateway.json("domain", "add", "other-owner.example", "--user", str(other_user))
    verified = "UPDATE sender_domains SET verified_at = ? WHERE id = ?"  # as a DNS check does
    inst.gateway.sql(verified, "2026-01-02 03:04:05.000000", other["DomainID"])

    everyone = {row["DomainID"]: row for row in lines(inst.gateway, "domain", "list")}
    assert everyone[inst.sender.domain_id] == {
        "DomainID": inst.sender.domain_id,
        "SenderDomain": "lookups.example",
        "UserID": inst.user_id,
        "Status": "Enabled",
        "Enabled": True,
        "Verified": False,
        "VerifiedAt": None,
        "CreatedAt": everyone[inst.sender.domain_id]["CreatedAt"],
    }
    theirs = everyone[other["DomainID"]]
    assert (theirs["UserID"], theirs["Status"], theirs["Enabled"]) == (
        other_user, "Approval Pending", False,
    )  # fmt: skip
    assert (theirs["Verified"], theirs["VerifiedAt"]) == (True, "2026-01-02T03:04:05+00:00")

    only_theirs = lines(inst.gateway, "domain", "list", "--user", str(other_user))
    assert [row["DomainID"] for row in only_theirs] == [other["DomainID"]]

    result = inst.gateway.cli("domain", "show", str(other["DomainID"]))
    shown = json.loads(result.stdout)
    assert shown == {**theirs, **other}  # its row, and what `domain add` printed
    assert "PRIVATE KEY" not in result.stdout
    purposes = {record["Purpose"] for record in shown["DNSRecords"]}
    assert {"DKIM", "SPF", "Return-Path (bounces)"} <= purposes


def test_smtp_list_shows_credentials_never_passwords(inst: Installation) -> None:
    assert auth_reply(inst, inst.sender.username, inst.sender.password).startswith("235")
    result = inst.gateway.cli("smtp", "list", "--domain", str(inst.sender.domain_id))
    [credential] = map(json.loads, result.stdout.splitlines())
    assert set(credential) == {"SMTPID", "SMTPUsername", "DomainID", "CreatedAt", "LastUsedAt"}
    assert credential["SMTPUsername"] == inst.sender.username
    assert credential["DomainID"] == inst.sender.domain_id
    assert credential["LastUsedAt"] is not None  # the AUTH above
    assert inst.sender.password not in result.stdout and "$argon2" not in result.stdout


def test_smtp_delete_stops_auth_with_the_credential(inst: Installation) -> None:
    domain = str(inst.sender.domain_id)
    new = inst.gateway.json("smtp", "add", "--domain", domain)
    assert auth_reply(inst, new["SMTPUsername"], new["SMTPPassword"]).startswith("235")

    deleted = inst.gateway.json("smtp", "delete", str(new["SMTPID"]))
    assert deleted == {"SMTPID": new["SMTPID"], "Deleted": True}
    assert auth_reply(inst, new["SMTPUsername"], new["SMTPPassword"]).startswith("535")
    listed = [row["SMTPID"] for row in lines(inst.gateway, "smtp", "list", "--domain", domain)]
    assert new["SMTPID"] not in listed and listed  # the fixture's credential stays


def queue_rows(inst: Installation, queue_id: uuid.UUID, *args: str) -> list[dict[str, Any]]:
    rows = lines(inst.gateway, "queue", "list", *args)
    return [row for row in rows if row["MessageID"] == str(queue_id)]


def test_queue_list_shows_one_row_per_recipient(inst: Installation) -> None:
    recipients = ["first@list-a.example", "second@list-b.example"]
    queue_id = submit(inst, inst.sender, recipients, "Listed")

    rows = {row["Recipient"]: row for row in queue_rows(inst, queue_id)}
    assert set(rows) == set(recipients)
    first = rows["first@list-a.example"]
    assert (first["Status"], first["Attempts"], first["LastReply"]) == ("queued", 0, None)
    assert first["SenderDomainID"] == inst.sender.domain_id
    assert datetime.fromisoformat(first["NextAttempt"]).tzinfo is not None  # due, in UTC

    only_b = queue_rows(inst, queue_id, "--domain", "LIST-B.example")
    assert [row["Recipient"] for row in only_b] == ["second@list-b.example"]
    by_sender = queue_rows(inst, queue_id, "--sender-domain", str(inst.sender.domain_id))
    assert len(by_sender) == 2
    assert queue_rows(inst, queue_id, "--sender-domain", MISSING) == []
    [newest] = lines(inst.gateway, "queue", "list", "--limit", "1")
    assert newest["DeliveryID"] == max(row["DeliveryID"] for row in rows.values())

    removed = inst.gateway.json(
        "queue", "delete", "--recipient", "first@list-a.example", "--reason", "lookup test"
    )
    assert removed == {"Removed": 1}
    [failed] = queue_rows(inst, queue_id, "--status", "failed")  # the other is still queued
    assert failed["Recipient"] == "first@list-a.example"
    assert failed["LastReply"] == "removed from the queue by an operator: lookup test"
    assert failed["NextAttempt"] is None  # it will not be tried again


def test_queue_list_bounds_its_limit_and_names_valid_statuses(inst: Installation) -> None:
    for limit in ("0", "10001"):
        result = inst.gateway.cli("queue", "list", "--limit", limit, check=False)
        assert result.returncode == 2 and result.stdout == ""
        assert f"argument --limit: '{limit}': give a whole number from 1 to 10000" in result.stderr
    assert inst.gateway.cli("queue", "list", "--limit", "10000").returncode == 0
    result = inst.gateway.cli("queue", "list", "--status", "pending", check=False)
    assert result.returncode == 2 and "invalid choice: 'pending'" in result.stderr
    for status in DeliveryStatus:
        assert f"'{status}'" in result.stderr


def test_queue_show_has_the_message_its_recipients_and_events(inst: Installation) -> None:
    recipients = ["one@show.example", "two@show.example"]
    queue_id = submit(inst, inst.sender, recipients, "Shown subject")

    result = inst.gateway.cli("queue", "show", str(queue_id))
    shown = json.loads(result.stdout)
    assert shown["MessageID"] == str(queue_id)
    assert (shown["MailFrom"], shown["Subject"]) == (inst.sender.address, "Shown subject")
    assert (shown["UserID"], shown["SenderDomainID"]) == (inst.user_id, inst.sender.domain_id)
    assert shown["RecipientCount"] == 2 and shown["Size"] > 0
    assert shown["DeliveryCount"] == 2
    assert [d["Recipient"] for d in shown["Deliveries"]] == recipients
    assert {d["Status"] for d in shown["Deliveries"]} == {"queued"}
    assert shown["EventCount"] == 2
    assert sorted((e["Type"], e["Recipient"]) for e in shown["Events"]) == [
        ("queued", "one@show.example"),
        ("queued", "two@show.example"),
    ]
    assert "Body text." not in result.stdout  # the stored message itself is not shown


def test_domain_delete_fails_its_pending_mail_and_ends_its_credentials(
    inst: Installation,
) -> None:
    doomed = add_sender(inst.gateway, inst.user_id, "doomed.example")
    recipients = ["a@doomed-dest.example", "b@doomed-dest.example"]
    queue_id = submit(inst, doomed, recipients, "Never sent")

    deleted = inst.gateway.json("domain", "delete", str(doomed.domain_id))
    assert deleted == {"DomainID": doomed.domain_id, "Deleted": True, "FailedRecipients": 2}

    shown = inst.gateway.json("queue", "show", str(queue_id))
    assert shown["SenderDomainID"] is None  # the message stays, for the statistics
    for delivery in shown["Deliveries"]:
        assert delivery["Status"] == "failed"
        assert delivery["LastReply"] == "the sender domain was deleted"
    assert [e["Type"] for e in shown["Events"]].count("failed") == 2
    assert auth_reply(inst, doomed.username, doomed.password).startswith("535")
    assert inst.gateway.sql(
        "SELECT count(*) FROM smtp_credentials WHERE domain_id = ?", doomed.domain_id
    ) == [(0,)]
    relay = "SELECT count(*) FROM inbound_relay_domains WHERE name = ?"
    assert inst.gateway.sql(relay, doomed.return_path) == [(0,)]  # no bounces taken for it


UNKNOWN_MESSAGE = "0e6f2a6c-0000-4000-8000-000000999999"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("domain", "show", MISSING), "no sender domain 999999"),
        (("domain", "delete", MISSING), "no sender domain 999999"),
        (("smtp", "list", "--domain", MISSING), "no sender domain 999999"),
        (("smtp", "delete", MISSING), "no SMTP credential 999999"),
        (("queue", "show", UNKNOWN_MESSAGE), f"no message {UNKNOWN_MESSAGE} in the queue"),
        (
            ("webhooks", "replay", "--outbox", MISSING, "--event", "evt_999998", "--webhook", "7"),
            "no webhook call (OutboxID) 999999; no webhook calls for event 999998; no webhook 7",
        ),
    ],
)
def test_an_id_that_names_nothing_is_one_line_and_exit_1(
    inst: Installation, args: tuple[str, ...], said: str
) -> None:
    result = inst.gateway.cli(*args, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", said + "\n")


def test_replaying_no_dead_calls_is_not_an_error(inst: Installation) -> None:
    assert inst.gateway.json("webhooks", "replay", "--dead") == {"Replayed": 0}
