"""SMTP credential commands of /api.php, checked where it matters: the credentials they hand
out log in on the submission port (and stop working when reset or deleted)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http_api.conftest import Api
from tests.mta.support import smtp_auth, submission


def login(api: Api, username: str, password: str) -> str:
    with submission(api.gateway.ports["submission"]) as smtp:
        code, _ = smtp_auth(smtp, "PLAIN", username, password)
    return str(code)


def own_domain(api: Api, name: str) -> int:
    return int(api.call("emailgateway.adddomain", DomainName=name)["NewSenderDomainID"])


def test_added_credentials_log_in_and_are_listed_with_the_password_masked(api: Api) -> None:
    domain_id = own_domain(api, "smtp-add.example")
    added = api.call("emailgateway.addsmtp", DomainID=domain_id)
    smtp = added["SMTP"]
    assert added["Success"] is True and added["NewSMTPID"] == smtp["SMTPID"]
    assert smtp["SMTPHost"] == "mx.mailgate.test"
    assert smtp["SMTPPorts"] == [
        api.gateway.ports["smtp"],
        api.gateway.ports["submission"],
        api.gateway.ports["smtps"],
    ]
    assert login(api, smtp["SMTPUsername"], smtp["SMTPPassword"]) == "235"

    listed = api.call("emailgateway.getsmtps", DomainID=domain_id)["SMTPs"]
    assert [item["SMTPID"] for item in listed] == [smtp["SMTPID"]]
    assert "SMTPPassword" not in listed[0]
    assert listed[0]["Password"] == "********"  # 004's field: a fixed mask, never the password
    assert smtp["SMTPPassword"] not in str(listed)
    sender_fields = ("FromEmail", "FromName", "ReplyToEmail", "ReplyToName")
    assert {name: listed[0][name] for name in sender_fields} == dict.fromkeys(sender_fields, "")
    assert (listed[0]["Username"], listed[0]["IsActive"]) == (smtp["SMTPUsername"], True)


def test_reset_replaces_the_password_and_delete_ends_it(api: Api) -> None:
    domain_id = own_domain(api, "smtp-reset.example")
    smtp = api.call("emailgateway.addsmtp", DomainID=domain_id)["SMTP"]
    reset = api.call("emailgateway.resetsmtppassword", smtpid=smtp["SMTPID"])  # 004's spelling
    new_password = reset["SMTP"]["SMTPPassword"]
    assert new_password != smtp["SMTPPassword"]
    assert login(api, smtp["SMTPUsername"], smtp["SMTPPassword"]) == "535"
    assert login(api, smtp["SMTPUsername"], new_password) == "235"

    assert api.call("emailgateway.deletesmtp", SMTPID=smtp["SMTPID"]) == {
        "Success": True,
        "ErrorCode": 0,
    }
    assert login(api, smtp["SMTPUsername"], new_password) == "535"
    assert api.call("emailgateway.getsmtps", DomainID=domain_id)["SMTPs"] == []


@pytest.mark.parametrize(
    ("command", "params", "code"),
    [
        ("emailgateway.addsmtp", {}, 1),
        ("emailgateway.addsmtp", {"DomainID": 999999}, 2),
        ("emailgateway.getsmtps", {}, 1),
        ("emailgateway.getsmtps", {"DomainID": "x"}, 2),
        ("emailgateway.deletesmtp", {}, 1),
        ("emailgateway.deletesmtp", {"SMTPID": 999999}, 2),
        ("emailgateway.resetsmtppassword", {}, 1),
        ("emailgateway.resetsmtppassword", {"SMTPID": "x"}, 2),
    ],
)
def test_smtp_command_errors(api: Api, command: str, params: dict[str, Any], code: int) -> None:
    answer = api.call(command, **params)
    assert (answer["Success"], answer["ErrorCode"]) == (False, code)


def test_another_users_credentials_are_out_of_reach(api: Api) -> None:
    stranger = api.gateway.json("user", "add", "smtp-stranger@api.test")["APIKey"]
    theirs = api.call("emailgateway.adddomain", key=stranger, DomainName="smtp-theirs.example")
    smtp = api.call("emailgateway.addsmtp", key=stranger, DomainID=theirs["NewSenderDomainID"])
    smtp_id = smtp["SMTP"]["SMTPID"]
    for command in ("emailgateway.deletesmtp", "emailgateway.resetsmtppassword"):
        assert api.call(command, SMTPID=smtp_id)["ErrorCode"] == 2
    domain_id = theirs["NewSenderDomainID"]
    assert api.call("emailgateway.getsmtps", DomainID=domain_id)["ErrorCode"] == 2
    assert api.call("emailgateway.addsmtp", DomainID=domain_id)["ErrorCode"] == 2
    assert login(api, smtp["SMTP"]["SMTPUsername"], smtp["SMTP"]["SMTPPassword"]) == "235"
