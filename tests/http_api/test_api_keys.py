"""Sender domain API keys through /api.php: shown once, stored as digests, listed masked,
deletable only by their owner, and never accepted as a user's APIKey."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.http_api.conftest import Api, db

UTC_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")  # 004's 2021-04-01T12:00:00Z


def own_domain(api: Api, name: str) -> int:
    return int(api.call("emailgateway.adddomain", DomainName=name)["NewSenderDomainID"])


def test_add_list_and_delete_a_domain_key(api: Api) -> None:
    domain_id = own_domain(api, "keys.example")
    added = api.call("emailgateway.addapi", Description="Production API Key", DomainID=domain_id)
    key = added["APIKey"]
    assert added["Success"] is True and added["NewAPIKeyID"] == key["APIKeyID"]
    assert key["APIKey"].startswith("eg_live_") and len(key["APIKey"]) > 30
    assert (key["Description"], key["DomainID"]) == ("Production API Key", domain_id)
    assert key["Key"] == key["APIKey"]  # 004's name for the new key, shown this once
    assert key["Permissions"] == "email.send,events.read,webhooks.manage"
    auth = {"Authorization": f"Bearer {key['Key']}"}  # what the permissions say it opens
    for route in ("/api/v1/events", "/api/v1/webhooks"):
        assert api.client.get(route, headers=auth).status_code == 200, route
    with db(api) as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys WHERE id = ?", (key["APIKeyID"],))
        assert key["APIKey"] not in str(stored.fetchall())

    [listed] = api.call("emailgateway.getapis", DomainID=domain_id)["APIKeys"]
    assert listed["APIKeyID"] == key["APIKeyID"]
    assert listed["APIKey"].endswith("…") and listed["APIKey"] != key["APIKey"]
    assert key["APIKey"].startswith(listed["APIKey"][:-1])
    assert listed["Key"] == listed["APIKey"]  # 004's name, masked too
    assert (listed["KeyID"], listed["UserID"]) == (str(key["APIKeyID"]), str(api.user_id))
    assert listed["CreationDate"] == key["CreationDate"] and UTC_TEXT.fullmatch(key["CreationDate"])
    assert listed["LastUsedDate"] == ""  # never used

    # A domain key is not a user's key for /api.php.
    assert api.call("emailgateway.getdomains", key=key["APIKey"])["ErrorCode"] == 99998

    assert api.call("emailgateway.deleteapi", ApiKeyId=key["APIKeyID"]) == {  # 004's spelling
        "Success": True,
        "ErrorCode": 0,
    }
    assert api.call("emailgateway.getapis", DomainID=domain_id)["APIKeys"] == []
    # The /api/v1 routes remember a key's domain for a second, then refuse the deleted key.
    refused = wait_until(  # gently: every request counts against the key's rate limit
        lambda: api.client.get("/api/v1/events", headers=auth).status_code == 401,
        timeout=5,
        interval=0.2,
    )
    assert refused


@pytest.mark.parametrize(
    ("command", "params", "code"),
    [
        ("emailgateway.addapi", {}, [1, 2]),
        ("emailgateway.addapi", {"DomainID": 1}, [1]),
        ("emailgateway.addapi", {"Description": "x"}, [2]),
        ("emailgateway.addapi", {"Description": "x", "DomainID": 999999}, [3]),  # 001: lists
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
    assert api.call("emailgateway.addapi", Description="x", DomainID=domain_id)["ErrorCode"] == [3]
    assert api.call("emailgateway.getapis", DomainID=domain_id)["ErrorCode"] == 2
    assert api.call("emailgateway.deleteapi", APIKeyID=key["NewAPIKeyID"])["ErrorCode"] == 2
    assert len(api.call("emailgateway.getapis", key=stranger, DomainID=domain_id)["APIKeys"]) == 1
