"""`/rest/subscriber/...` of 003 over real HTTP against `mailgate serve`: every action, every
documented error code, the 100-per-call limit, partial success, and isolation of accounts.
(This gateway's accounts have no sender domain: confirmation mail is not sent; the double
opt-in end to end is in test_rest_subscription_confirm.py.)"""

from __future__ import annotations

from typing import Any

from tests.http_api.conftest import Api


def new_list(api: Api) -> str:
    fields = [{"name": "Name", "tag": "name"}, {"name": "Age", "tag": "age", "type": 1}]
    created = api.rest.ok("/rest/subscribers_list/create", {"name": "S", "custom_fields": fields})
    return str(created["hash"])


def shown(api: Api, list_hash: str, email: str) -> dict[str, Any]:
    answer = api.rest.get(f"/rest/subscriber/get/{list_hash}/{email}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def test_add_get_edit_delete(api: Api) -> None:
    list_hash = new_list(api)
    added = api.rest.ok(
        "/rest/subscriber/add",
        {"email": "Ann@Example.com", "list": list_hash, "custom_fields": {"NAME": "Ann"}},
    )
    # Awaiting activation by default; no enabled sender domain, so no confirmation mail.
    assert added == {"email": "ann@example.com", "state": 2, "confirmation_sent": False}
    assert shown(api, list_hash, "ann@example.com") == {
        "email": "ann@example.com",
        "state": 2,
        "custom_fields": {"name": "Ann"},
        "sent": None,
    }
    api.rest.ok(
        "/rest/subscriber/edit",
        {"email": "ann@example.com", "list": list_hash, "state": 1, "custom_fields": {"age": 41}},
    )
    assert shown(api, list_hash, "ANN@example.com")["custom_fields"] == {"name": "Ann", "age": "41"}
    assert shown(api, list_hash, "ann@example.com")["state"] == 1
    counted = {i["hash"]: i for i in api.rest.ok("/rest/subscribers_list/lists")}[list_hash]
    assert counted["subscribers_number"] == 1
    api.rest.ok("/rest/subscriber/delete", {"email": "ann@example.com", "list": list_hash})
    assert api.rest.get(f"/rest/subscriber/get/{list_hash}/ann@example.com").status_code == 400


def test_add_in_every_state_and_again_after_leaving(api: Api) -> None:
    list_hash = new_list(api)
    for state in (1, 2, 3, 4, 5, 8):
        email = f"s{state}@example.com"
        answer = api.rest.ok("/rest/subscriber/add", {"email": email, "list": list_hash,
                                                      "state": state, "confirm": 0})  # fmt: skip
        assert answer == {"email": email, "state": state}
        assert shown(api, list_hash, email)["state"] == state
    # Active or awaiting: already there (1304). Resigned: added again.
    for state in (1, 2):
        again = {"email": f"s{state}@example.com", "list": list_hash}
        assert api.rest.error("/rest/subscriber/add", again) == (400, [1304])
    api.rest.ok("/rest/subscriber/add", {"email": "s4@example.com", "list": list_hash, "state": 1})
    assert shown(api, list_hash, "s4@example.com")["state"] == 1


def test_add_and_edit_errors(api: Api) -> None:
    list_hash = new_list(api)
    add, edit = "/rest/subscriber/add", "/rest/subscriber/edit"
    assert api.rest.error(add, {"email": "not an address", "list": list_hash}) == (400, [1301])
    assert api.rest.error(add, {"list": list_hash}) == (400, [1301])
    assert api.rest.error(add, {"email": "a@example.com", "list": "nosuchlist"}) == (400, [1302])
    unknown_tag = {"email": "a@example.com", "list": list_hash, "custom_fields": {"city": "X"}}
    assert api.rest.error(add, unknown_tag) == (400, [1303])
    not_number = {"email": "a@example.com", "list": list_hash, "custom_fields": {"age": "old"}}
    assert api.rest.error(add, not_number) == (400, [1303])
    assert api.rest.error(add, {"email": "a@example.com", "list": list_hash, "state": 6}) == (
        400,
        [1305],
    )
    api.rest.ok(add, {"email": "a@example.com", "list": list_hash, "confirm": 0})
    assert api.rest.error(add, {"email": "a@example.com", "list": list_hash}) == (400, [1304])
    assert api.rest.error(edit, {"email": "b@example.com", "list": list_hash}) == (400, [1331])
    assert api.rest.error(edit, {"email": "a@example.com", "list": "nosuchlist"}) == (400, [1302])
    assert api.rest.error(edit, {"email": "a@example.com", "list": list_hash, "state": "x"}) == (
        400,
        [1305],
    )
    assert api.rest.error(
        edit, {"email": "a@example.com", "list": list_hash, "custom_fields": {"age": "x"}}
    ) == (400, [1303])
    assert shown(api, list_hash, "a@example.com")["custom_fields"] == {}


def test_get_and_delete_errors(api: Api) -> None:
    list_hash = new_list(api)
    assert api.rest.error(f"/rest/subscriber/get/{list_hash}/not-an-address", method="GET") == (
        400,
        [1311],
    )
    assert api.rest.error("/rest/subscriber/get/nosuchlist/a@example.com", method="GET") == (
        400,
        [1312],
    )
    assert api.rest.error(f"/rest/subscriber/get/{list_hash}/z@example.com", method="GET") == (
        400,
        [1313],
    )
    assert api.rest.error("/rest/subscriber/get", {}) == (405, [1003])
    delete = "/rest/subscriber/delete"
    assert api.rest.error(delete, {"email": "z@example.com", "list": list_hash}) == (400, [1321])
    assert api.rest.error(delete, {"email": "z@example.com", "list": "nosuchlist"}) == (400, [1322])


def test_history_errors(api: Api) -> None:
    list_hash = new_list(api)
    api.rest.ok("/rest/subscriber/add", {"email": "h@example.com", "list": list_hash})
    path = "/rest/subscriber/getHistory"
    assert api.rest.error(path, {"email": "bad", "list": list_hash}) == (400, [1311])
    assert api.rest.error(path, {"email": "h@example.com", "list": "nosuchlist"}) == (400, [1312])
    assert api.rest.error(path, {"email": "x@example.com", "list": list_hash}) == (400, [1313])
    for limit in ("abc", "0", "-1", "1001"):
        assert api.rest.error(path, {"email": "h@example.com", "list": list_hash,
                                     "limit": limit}) == (400, [1314])  # fmt: skip
    assert api.rest.error(path, {"email": "h@example.com", "list": list_hash, "limit": "30"}) == (
        400,
        [1315],
    )


def test_add_multiple_partial_success_as_the_document_shows(api: Api) -> None:
    list_hash = new_list(api)
    answer = api.rest.post(
        "/rest/subscriber/addMultiple",
        {"list": list_hash,
         "subscribers": [{"email": "correct@address.email.com"},
                         {"email": "incorrect email address"}]},
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "OK",
        "data": {
            "inserted": 1,
            "not_inserted": 1,
            "Errors": [
                {"email": "incorrect email address", "error": "Email address not correct",
                 "code": 1301}
            ],
        },
    }  # fmt: skip
    again = api.rest.ok(
        "/rest/subscriber/addMultiple",
        {"list": list_hash, "state": 1, "subscribers": [
            {"email": "correct@address.email.com"},
            {"email": "t1@example.com", "custom_fields": {"name": "Hanna", "age": "30"}},
            {"email": "t2@example.com", "custom_fields": {"age": "thirty"}},
        ]},
    )  # fmt: skip
    assert (again["inserted"], again["not_inserted"]) == (1, 2)
    assert [(e["email"], e["code"]) for e in again["Errors"]] == [
        ("t2@example.com", 1303),
        ("correct@address.email.com", 1304),
    ]
    assert shown(api, list_hash, "t1@example.com")["custom_fields"] == {
        "name": "Hanna",
        "age": "30",
    }


def test_multiple_actions_and_their_errors(api: Api) -> None:
    list_hash = new_list(api)
    emails = [{"email": f"m{i}@example.com"} for i in range(100)]
    added = api.rest.ok("/rest/subscriber/addMultiple", {"list": list_hash, "subscribers": emails})
    assert (added["inserted"], added["not_inserted"], added["Errors"]) == (100, 0, [])
    too_many = [*emails, {"email": "m100@example.com"}]
    for action in ("addMultiple", "editMultiple", "getMultiple", "deleteMultiple"):
        assert api.rest.error(
            f"/rest/subscriber/{action}", {"list": list_hash, "subscribers": too_many}
        ) == (400, [1399])

    edited = api.rest.ok(
        "/rest/subscriber/editMultiple",
        {"list": list_hash, "state": 1, "subscribers": [
            {"email": "m0@example.com", "custom_fields": {"name": "Zero"}},
            {"email": "nobody@example.com"}, {"email": "m1@example.com"}]},
    )  # fmt: skip
    assert (edited["updated"], edited["not_updated"]) == (2, 1)
    assert (edited["inserted"], edited["not_inserted"]) == (2, 1)  # addMultiple's names too
    assert edited["Errors"] == [
        {"email": "nobody@example.com", "error": "Subscriber doesn't exist", "code": 1331}
    ]
    got = api.rest.ok(
        "/rest/subscriber/getMultiple",
        {"list": list_hash, "subscribers": [{"email": "m0@example.com"}, {"email": "bad"},
                                            {"email": "nobody@example.com"}]},
    )  # fmt: skip
    assert got == [
        {"email": "m0@example.com", "state": 1, "custom_fields": {"name": "Zero"}},
        {"email": "bad", "errors": [{"error": "Error in email address", "code": 1311}]},
        {"email": "nobody@example.com",
         "errors": [{"error": "Subscriber doesn't exist on given list", "code": 1313}]},
    ]  # fmt: skip
    deleted = api.rest.ok(
        "/rest/subscriber/deleteMultiple",
        {"list": list_hash, "subscribers": [{"email": "m0@example.com"},
                                            {"email": "nobody@example.com"}]},
    )  # fmt: skip
    assert (deleted["deleted"], deleted["not_deleted"]) == (1, 1)
    assert deleted["Errors"][0]["code"] == 1321

    # No address succeeds: an error naming each one.
    status, codes = api.rest.error(
        "/rest/subscriber/addMultiple", {"list": list_hash, "subscribers": [{"email": "x"}]}
    )
    assert (status, codes) == (400, [1331, 1301])
    status, codes = api.rest.error(
        "/rest/subscriber/editMultiple",
        {"list": list_hash, "subscribers": [{"email": "nobody@example.com"}]},
    )
    assert (status, codes) == (400, [1331, 1331])
    status, codes = api.rest.error(
        "/rest/subscriber/deleteMultiple",
        {"list": list_hash, "subscribers": [{"email": "nobody@example.com"}]},
    )
    assert (status, codes) == (400, [1321, 1321])

    for action, no_list, empty in [
        ("addMultiple", 1332, 1336),
        ("editMultiple", 1332, 1336),
        ("getMultiple", 1341, 1342),
        ("deleteMultiple", 1351, 1352),
    ]:
        path = f"/rest/subscriber/{action}"
        assert api.rest.error(path, {"list": "nosuchlist", "subscribers": emails[:1]}) == (
            400,
            [no_list],
        )
        assert api.rest.error(path, {"list": list_hash, "subscribers": []}) == (400, [empty])
        assert api.rest.error(path, {"list": list_hash}) == (400, [empty])
    for action in ("addMultiple", "editMultiple"):
        assert api.rest.error(
            f"/rest/subscriber/{action}", {"list": list_hash, "state": 7, "subscribers": emails}
        ) == (400, [1335])


def test_another_account_never_reaches_the_subscribers(api: Api) -> None:
    list_hash = new_list(api)
    api.rest.ok("/rest/subscriber/add", {"email": "p@example.com", "list": list_hash, "state": 1})
    other = api.other_rest
    one = {"email": "p@example.com", "list": list_hash}
    many = {"list": list_hash, "subscribers": [{"email": "p@example.com"}]}
    assert other.error("/rest/subscriber/add", one) == (400, [1302])
    assert other.error("/rest/subscriber/edit", {**one, "state": 4}) == (400, [1302])
    assert other.error(f"/rest/subscriber/get/{list_hash}/p@example.com", method="GET") == (
        400,
        [1312],
    )
    assert other.error("/rest/subscriber/delete", one) == (400, [1322])
    assert other.error("/rest/subscriber/getHistory", one) == (400, [1312])
    assert other.error("/rest/subscriber/addMultiple", many) == (400, [1332])
    assert other.error("/rest/subscriber/editMultiple", many) == (400, [1332])
    assert other.error("/rest/subscriber/getMultiple", many) == (400, [1341])
    assert other.error("/rest/subscriber/deleteMultiple", many) == (400, [1351])
    assert shown(api, list_hash, "p@example.com")["state"] == 1
