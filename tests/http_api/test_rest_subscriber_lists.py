"""`/rest/subscribers_list/...` of 003 over real HTTP against `mailgate serve`: every action,
every documented error code, and one account never reaching another's lists."""

from __future__ import annotations

from tests.http_api.conftest import Api


def make_list(api: Api, name: str = "Newsletter", **data: object) -> str:
    return str(api.rest.ok("/rest/subscribers_list/create", {"name": name, **data})["hash"])


def test_create_with_custom_fields_then_list_update_and_delete(api: Api) -> None:
    created = api.rest.ok(
        "/rest/subscribers_list/create",
        {
            "name": "Customers",
            "description": "People who bought",
            "custom_fields": [
                {"name": "First name", "tag": "first_name"},
                {"name": "Kod promocji łódź", "type": 1},
            ],
        },
    )
    list_hash = created["hash"]
    assert len(list_hash) == 10 and list_hash.isalnum()
    assert [
        (f["field_name"], f["personalization_tag"], f["field_type"])
        for f in created["custom_fields"]
    ] == [("First name", "first_name", 0), ("Kod promocji łódź", "kod_promocji_lodz", 1)]
    assert all(len(f["id_hash"]) == 10 for f in created["custom_fields"])

    shown = {item["hash"]: item for item in api.rest.ok("/rest/subscribers_list/lists")}
    mine = shown[list_hash]
    assert mine["name"] == "Customers" and mine["description"] == "People who bought"
    assert mine["subscribers_number"] == 0 and isinstance(mine["id"], int)
    assert len(mine["creation_date"]) == 19 and mine["creation_date"][4] == "-"
    assert api.rest.get("/rest/subscribers_list/lists").json()["data"] == list(shown.values())

    api.rest.ok("/rest/subscribers_list/update", {"hash": list_hash, "name": "Buyers"})
    renamed = {i["hash"]: i for i in api.rest.ok("/rest/subscribers_list/lists")}[list_hash]
    assert (renamed["name"], renamed["description"]) == ("Buyers", "People who bought")
    api.rest.ok(
        "/rest/subscribers_list/update", {"hash": list_hash, "name": "B", "description": "new"}
    )
    renamed = {i["hash"]: i for i in api.rest.ok("/rest/subscribers_list/lists")}[list_hash]
    assert (renamed["name"], renamed["description"]) == ("B", "new")

    api.rest.ok("/rest/subscribers_list/delete", {"hash": list_hash})
    assert list_hash not in {i["hash"] for i in api.rest.ok("/rest/subscribers_list/lists")}
    assert api.rest.error("/rest/subscribers_list/delete", {"hash": list_hash}) == (400, [1604])


def test_create_accepts_php_form_data(api: Api) -> None:
    answer = api.rest.post_form(
        "/rest/subscribers_list/create",
        [("name", "Form list"), ("custom_fields[0][name]", "City"),
         ("custom_fields[0][tag]", "city"), ("custom_fields[0][type]", "0")],
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["custom_fields"][0]["personalization_tag"] == "city"


def test_create_errors(api: Api) -> None:
    path = "/rest/subscribers_list/create"
    assert api.rest.error(path, {"name": ""}) == (400, [1601])
    assert api.rest.error(path, {"description": "no name"}) == (400, [1601])
    assert api.rest.error(path, {"name": "x" * 256}) == (400, [1602])
    assert api.rest.error(path, {"name": "L", "custom_fields": "city"}) == (400, [1603])
    assert api.rest.error(path, {"name": "L", "custom_fields": [{"tag": "a"}]}) == (400, [1603])
    twice = [{"name": "A", "tag": "same"}, {"name": "B", "tag": "SAME"}]
    assert api.rest.error(path, {"name": "L", "custom_fields": twice}) == (400, [1603])
    bad_tag = [{"name": "A", "tag": "with space"}]
    assert api.rest.error(path, {"name": "L", "custom_fields": bad_tag}) == (400, [1604])
    bad_type = [{"name": "A", "type": 2}]
    assert api.rest.error(path, {"name": "L", "custom_fields": bad_type}) == (400, [1605])
    names = {item["name"] for item in api.rest.ok("/rest/subscribers_list/lists")}
    assert "L" not in names  # nothing half-made


def test_update_and_delete_errors(api: Api) -> None:
    list_hash = make_list(api)
    assert api.rest.error("/rest/subscribers_list/update", {"hash": list_hash}) == (400, [1611])
    assert api.rest.error("/rest/subscribers_list/update", {"name": "x"}) == (400, [1611])
    unknown = {"hash": "nosuchlist", "name": "x"}
    assert api.rest.error("/rest/subscribers_list/update", unknown) == (400, [1604])
    assert api.rest.error("/rest/subscribers_list/delete", {}) == (400, [1605])
    assert api.rest.error("/rest/subscribers_list/delete", {"hash": "nosuchlist"}) == (400, [1604])


def test_add_field_and_get_fields(api: Api) -> None:
    list_hash = make_list(api)
    added = api.rest.ok(
        "/rest/subscribers_list/addField", {"hash": list_hash, "name": "Promotion code"}
    )
    assert added["field_name"] == "Promotion code"
    assert added["personalization_tag"] == "promotion_code" and added["field_type"] == 0
    numeric = api.rest.ok(
        "/rest/subscribers_list/addField",
        {"hash": list_hash, "name": "Age", "tag": "AGE", "type": "1"},
    )
    assert (numeric["personalization_tag"], numeric["field_type"]) == ("age", 1)
    fields = api.rest.ok("/rest/subscribers_list/getFields", {"hash": list_hash})
    assert fields == [
        {"hash": added["id_hash"], "name": "Promotion code", "tag": "promotion_code", "type": 0},
        {"hash": numeric["id_hash"], "name": "Age", "tag": "age", "type": 1},
    ]
    by_path = api.rest.get(f"/rest/subscribers_list/getFields/{list_hash}")
    assert by_path.json()["data"] == fields


def test_add_field_errors(api: Api) -> None:
    list_hash = make_list(api)
    path = "/rest/subscribers_list/addField"
    assert api.rest.error(path, {"name": "X"}) == (400, [1622])
    assert api.rest.error(path, {"hash": "nosuchlist", "name": "X"}) == (400, [1622])
    assert api.rest.error(path, {"hash": list_hash}) == (400, [1623])
    assert api.rest.error(path, {"hash": list_hash, "name": " "}) == (400, [1623])
    assert api.rest.error(path, {"hash": list_hash, "name": "X", "tag": "a-b"}) == (400, [1624])
    assert api.rest.error(path, {"hash": list_hash, "name": "!!!"}) == (400, [1624])
    assert api.rest.error(path, {"hash": list_hash, "name": "X", "type": "text"}) == (400, [1625])
    api.rest.ok(path, {"hash": list_hash, "name": "City"})
    assert api.rest.error(path, {"hash": list_hash, "name": "Town", "tag": "City"}) == (400, [1626])
    assert api.rest.error("/rest/subscribers_list/getFields", {}) == (400, [1632])


def test_another_account_never_reaches_the_list(api: Api) -> None:
    list_hash = make_list(api, "Private")
    other = api.other_rest
    assert list_hash not in {i["hash"] for i in other.ok("/rest/subscribers_list/lists")}
    assert other.error("/rest/subscribers_list/update", {"hash": list_hash, "name": "Mine"}) == (
        400,
        [1604],
    )
    assert other.error("/rest/subscribers_list/delete", {"hash": list_hash}) == (400, [1604])
    assert other.error("/rest/subscribers_list/addField", {"hash": list_hash, "name": "X"}) == (
        400,
        [1622],
    )
    assert other.error("/rest/subscribers_list/getFields", {"hash": list_hash}) == (400, [1632])
    still = {i["hash"]: i for i in api.rest.ok("/rest/subscribers_list/lists")}[list_hash]
    assert still["name"] == "Private"
    assert api.rest.ok("/rest/subscribers_list/getFields", {"hash": list_hash}) == []
