"""Sender domain API keys through /api.php: shown once, stored as digests, listed masked,
deletable only by their owner, and never accepted as a user's APIKey."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http_api.conftest import Api, db


def own_domain(api: Api, name: str) -> int:
    return int(api.call("emailgateway.adddomain", DomainName=name)["NewSenderDomainID"])


def test_add_list_and_delete_a_domain_key(api: Api) -> None:
    domain_id = own_domain(api, "keys.example")
    added = api.call("emailgateway.addapi", Description="Production API Key", DomainID=domain_id)
    key = added["APIKey"]
    assert added["Success"] is True and added["NewAPIKeyID"] == key["APIKeyID"]
    assert key["APIKey"].startswith("eg_live_") and len(key["APIKey"]) > 30
    assert (key["Description"], key["DomainID"]) == ("Production API Key", domain_id)
    with db(api) as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys WHERE id = ?", (key["APIKeyID"],))
        assert key["APIKey"] not in str(stored.fetchall())

    [listed] = api.call("emailgateway.getapis", DomainID=domain_id)["APIKeys"]
    assert listed["APIKeyID"] == key["APIKeyID"]
    assert listed["APIKey"].endswith("…") and listed["APIKey"] != key["APIKey"]
    assert key["APIKey"].startswith(listed["APIKey"][:-1])

    # A domain key is not a user's key for /api.php.
    assert api.call("emailgateway.getdomains", key=key["APIKey"])["ErrorCode"] == 99998

    assert api.call("emailgateway.deleteapi", ApiKeyId=key["APIKeyID"]) == {  # 004's spelling
        "Success": True,
        "ErrorCode": 0,
    }
    assert api.call("emailgateway.getapis", DomainID=domain_id)["APIKeys"] == []


@pytest.mark.parametrize(
    ("command", "params", "code"),
    [
        ("emailgateway.addapi", {}, [1, 2]),
        ("emailgateway.addapi", {"DomainID": 1}, [1]),
        ("emailgateway.addapi", {"Description": "x"}, [2]),
        ("emailgateway.addapi", {"Description": "x", "DomainID": 999999}, 3),
        ("emailgateway.getapis", {}, 1),
        ("emailgateway.getapis", {"DomainID": 999999}, 2),
        ("emailgateway.deleteapi", {}, 1),
        ("emailgateway.deleteapi", {"APIKeyID": 999999}, 2),
        ("emailgateway.deleteapi", {"APIKeyID": "x"}, 2),
    ],
)
def test_api_key_command_errors(api: Api, command: str, params: dict[str, Any], code: Any) -> None:
    answer = api.call(command, **params)
    assert (answer["Success"], answer["ErrorCode"]) == (False, code)


def test_another_users_keys_are_out_of_reach(api: Api) -> None:
    stranger = api.gateway.json("user", "add", "keys-stranger@api.test")["APIKey"]
    theirs = api.call("emailgateway.adddomain", key=stranger, DomainName="keys-theirs.example")
    domain_id = theirs["NewSenderDomainID"]
    key = api.call("emailgateway.addapi", key=stranger, Description="theirs", DomainID=domain_id)
    assert api.call("emailgateway.addapi", Description="x", DomainID=domain_id)["ErrorCode"] == 3
    assert api.call("emailgateway.getapis", DomainID=domain_id)["ErrorCode"] == 2
    assert api.call("emailgateway.deleteapi", APIKeyID=key["NewAPIKeyID"])["ErrorCode"] == 2
    assert len(api.call("emailgateway.getapis", key=stranger, DomainID=domain_id)["APIKeys"]) == 1
