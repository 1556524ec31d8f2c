"""/rest/subscriber/addBlocks, removeBlocks and updateFieldValue over real HTTP against
`mailgate serve` (one gateway for the module, with the webhook dispatcher's process, which runs
background jobs):

- blocked recipients are the account's account-scope suppressions; removeBlocks takes off only
  the account's own blocks; every documented code (and the section's 100-address limit);
- updateFieldValue's every documented code, and the update run in the background on every
  subscriber of the list, reported to a real HTTP receiver on loopback that answers wrongly
  twice before `{"status":"OK"}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import make_gateway, wait_until
from tests.http_api.conftest import Api, db, serving
from tests.mta.test_webhooks import Received, Receiver, serve_receiver

ADD = "/rest/subscriber/addBlocks"
REMOVE = "/rest/subscriber/removeBlocks"
UPDATE = "/rest/subscriber/updateFieldValue"


@dataclass
class Callbacks(Receiver):
    """Answers the first two callbacks to a path wrongly (not JSON, then status ERROR), then
    as 003 expects."""

    def body_for(self, received: Received) -> bytes:
        made = sum(1 for call in self.calls if call.path == received.path)
        wrong = {1: b"thanks", 2: b'{"status":"ERROR"}'}
        return wrong.get(made, b'{"status":"OK"}')


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    gateway = make_gateway(
        tmp_path_factory.mktemp("bulk"),
        MAILGATE_SMTP_PROCESSES="1",
        # no delivery: the jobs run in the scheduler process of every serve
        MAILGATE_DELIVERY_PROCESSES="0",
        MAILGATE_ALLOW_PRIVATE_TARGETS="1",  # the callback receiver is on loopback
        MAILGATE_WEBHOOK_RETRY_SCHEDULE="0.2,0.2,0.2",
    )
    owner = gateway.json("user", "add", "owner@bulk.test")
    other = gateway.json("user", "add", "other@bulk.test")
    with serving(gateway) as client:
        yield Api.of(gateway, client, owner, other)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Callbacks]:
    made = Callbacks()
    server = serve_receiver(made)
    yield made
    server.shutdown()


def entries(api: Api, address: str) -> list[tuple[Any, ...]]:
    query = "SELECT user_id, scope, reason, source FROM suppressions WHERE address = ?"
    return sorted(api.gateway.sql(query, address))


def test_add_blocks_counts_added_existing_and_incorrect(api: Api) -> None:
    emails = ["Block1@Example.org", "block2@example.org", "not an address", "block1@example.org"]
    data = api.rest.ok(ADD, {"emails": emails})
    assert data == {
        "stats": {"added": 2, "existing": 1, "incorrect": 1},
        "Incorrect_mails": ["not an address"],
    }
    assert entries(api, "block1@example.org") == [(api.user_id, "account", "blocked", "api-block")]
    again = api.rest.ok(ADD, {"emails": ["block2@example.org"]})
    assert again["stats"] == {"added": 0, "existing": 1, "incorrect": 0}


def test_add_blocks_takes_php_form_fields(api: Api) -> None:
    pairs = [("emails[]", "form1@example.org"), ("emails[]", "form2@example.org")]
    answer = api.rest.post_form(ADD, pairs)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["stats"] == {"added": 2, "existing": 0, "incorrect": 0}


def test_add_blocks_refusals(api: Api) -> None:
    assert api.rest.error(ADD, {"emails": ["nope", "@bad"]}) == (400, [1301])
    assert api.rest.error(ADD, {}) == (400, [1336])
    assert api.rest.error(ADD, {"emails": []}) == (400, [1336])
    assert api.rest.error(ADD, {"emails": "a@example.org"}) == (400, [1343])
    assert api.rest.error(ADD, {"emails": [{"email": "a@example.org"}]}) == (400, [1343])
    many = [f"many{n}@example.org" for n in range(101)]
    assert api.rest.error(ADD, {"emails": many}) == (400, [1399])
    assert entries(api, "many0@example.org") == []


def test_remove_blocks_removes_only_the_accounts_own_blocks(api: Api) -> None:
    api.rest.ok(ADD, {"emails": ["mine@example.org", "shared@example.org"]})
    api.other_rest.ok(ADD, {"emails": ["shared@example.org"]})
    with db(api) as conn:  # as a hard bounce suppresses
        conn.execute(
            "INSERT INTO suppressions (address, scope, user_id, reason, source, created_at) "
            "VALUES ('bounced@example.org', 'account', ?, 'bad-mailbox', 'delivery', "
            "CURRENT_TIMESTAMP)",
            (api.user_id,),
        )
    emails = ["MINE@example.org", "bounced@example.org", "never@example.org", "bad address"]
    data = api.rest.ok(REMOVE, {"emails": emails})
    assert data == {"stats": {"removed": 1, "not_existing": 2, "incorrect": 1}}
    assert entries(api, "mine@example.org") == []
    assert entries(api, "bounced@example.org") == [
        (api.user_id, "account", "bad-mailbox", "delivery")
    ]

    # Another account removes its own entry only.
    theirs = api.other_rest.ok(REMOVE, {"emails": ["shared@example.org"]})
    assert theirs["stats"] == {"removed": 1, "not_existing": 0, "incorrect": 0}
    assert [row[0] for row in entries(api, "shared@example.org")] == [api.user_id]


def test_remove_blocks_refusals(api: Api) -> None:
    assert api.rest.error(REMOVE, {}) == (400, [1336])
    assert api.rest.error(REMOVE, {"emails": ""}) == (400, [1336])
    assert api.rest.error(REMOVE, {"emails": {"a": 1}}) == (400, [1343])
    many = [f"many{n}@example.org" for n in range(101)]
    assert api.rest.error(REMOVE, {"emails": many}) == (400, [1399])


# -- updateFieldValue ----------------------------------------------------------------------


def make_list(api: Api, user_id: int, hash_: str, emails: list[str]) -> int:
    """A list with the text field `code` and these subscribers (active)."""
    now = "2026-01-01 00:00:00"
    with db(api) as conn:
        [(list_id,)] = conn.execute(
            "INSERT INTO subscriber_lists (user_id, hash, name, description, created_at) "
            "VALUES (?, ?, ?, '', ?) RETURNING id",
            (user_id, hash_, hash_, now),
        ).fetchall()
        conn.execute(
            "INSERT INTO list_fields (list_id, hash, name, tag, numeric, created_at) "
            "VALUES (?, ?, 'Code', 'code', FALSE, ?)",
            (list_id, f"f{hash_}", now),
        )
        conn.executemany(
            "INSERT INTO subscribers (list_id, email, state, custom_fields, created_at) "
            "VALUES (?, ?, 1, ?, ?)",
            [(list_id, email, json.dumps({"name": email[:2]}), now) for email in emails],
        )
    return int(list_id)


def other_id(api: Api) -> int:
    return int(api.gateway.sql("SELECT id FROM users WHERE email = 'other@bulk.test'")[0][0])


def request(list_hash: str, callback: str, **changes: Any) -> dict[str, Any]:
    return {"listHash": list_hash, "tag": "code", "value": "SUMMER", "url": callback, **changes}


def test_the_field_is_set_on_every_subscriber_and_reported_until_acknowledged(
    api: Api, receiver: Callbacks
) -> None:
    emails = [f"reader{n}@example.org" for n in range(5)]
    list_id = make_list(api, api.user_id, "fieldsok01", emails)
    untouched = make_list(api, api.user_id, "fieldsok02", ["reader0@example.org"])
    url = receiver.url("/done")

    data = api.rest.ok(UPDATE, request("fieldsok01", url, tag="Code", value="SUMMER-25"))
    job_id = data["id"]
    assert isinstance(job_id, int) and data == {"id": job_id}

    calls = wait_until(lambda: len(receiver.to("/done")) >= 3 and receiver.to("/done"))
    assert [call.json for call in calls] == [
        {"status": "OK", "data": {"id": job_id, "updated": 5}}
    ] * 3
    assert calls[0].headers["content-type"] == "application/json"
    done = wait_until(
        lambda: (
            api.gateway.sql("SELECT status, attempts FROM background_jobs WHERE id = ?", job_id)
            == [("done", 3)]
        )
    )
    assert done
    values = api.gateway.sql("SELECT custom_fields FROM subscribers WHERE list_id = ?", list_id)
    assert sorted(json.loads(v)["code"] for (v,) in values) == ["SUMMER-25"] * 5
    assert {json.loads(v)["name"] for (v,) in values} == {"re"}  # other fields kept
    assert api.gateway.sql(
        "SELECT custom_fields FROM subscribers WHERE list_id = ?", untouched
    ) == [('{"name": "re"}',)]
    assert len(receiver.to("/done")) == 3  # acknowledged: no more calls


def test_every_documented_code(api: Api, receiver: Callbacks) -> None:
    make_list(api, api.user_id, "fieldscode", ["a@example.org"])
    make_list(api, other_id(api), "fieldsthem", ["b@example.org"])
    url = receiver.url("/codes")

    def refused(**changes: Any) -> list[int]:
        status, codes = api.rest.error(UPDATE, request("fieldscode", url, **changes))
        assert status == 400
        return codes

    assert refused(tag="missing") == [1381]
    assert refused(listHash="") == [1382]
    assert refused(tag=None) == [1382]
    assert refused(listHash="nosuchlist") == [1382]
    assert refused(listHash="fieldsthem") == [1382]  # another account's list
    assert refused(url="not a url") == [1383]
    assert refused(url="ftp://127.0.0.1/x") == [1383]
    assert refused(value="x" * 256) == [1384]
    assert refused(value=None) == [1385]

    # A pending update of the field (not yet due) is in progress.
    list_id = api.gateway.sql("SELECT id FROM subscriber_lists WHERE hash = 'fieldscode'")[0][0]
    payload = json.dumps({"list_id": list_id, "field": "code", "value": "v", "url": url})
    api.gateway.sql(
        "INSERT INTO background_jobs (kind, user_id, payload, status, attempts, next_attempt_at, "
        "created_at) VALUES ('update_field_value', ?, ?, 'pending', 0, '2999-01-01 00:00:00', "
        "'2026-01-01 00:00:00')",
        api.user_id,
        payload,
    )
    assert refused(value="255 chars fit: " + "x" * 240) == [1386]
    assert api.other_rest.error(UPDATE, request("fieldscode", url)) == (400, [1382])
