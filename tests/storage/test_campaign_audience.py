"""A campaign's audience: RulesJson criteria checked, evaluated in SQL on SQLite and PostgreSQL
(every operator, numbers next to text that is none, and/or), and resolved into a run's plan
with the account's lists, segments and fields only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from storage.accounts import create_user
from storage.campaigns.audience import (
    AudienceError,
    checked_criteria,
    checked_rules_bundle,
    criteria_condition,
    run_plan,
)
from storage.engine import Database
from storage.models import Segment, Subscriber
from storage.subscriber_lists import FieldSpec, create_list, fields_of, list_for_owner


def rule(field_id: str, operator: str, value: Any) -> dict[str, Any]:
    return {"type": "fields", "field_id": field_id, "operator": operator, "value": value}


def test_criteria_are_checked_and_stored_in_one_form() -> None:
    given = '{"operator": "OR", "rules": [{"field_id": 7, "operator": "Greater", "value": 3}]}'
    assert checked_criteria(given) == {"operator": "or", "rules": [rule("7", "greater", "3")]}
    assert checked_criteria({}) == {"operator": "and", "rules": []}
    wrong: list[Any] = [
        "[1",
        [],
        {"operator": "xor", "rules": []},
        {"rules": {}},
        {"rules": [rule("EmailAddress", "like", "x")]},
        {"rules": [rule("", "contains", "x")]},
        {"rules": [rule("age", "greater", "ten")]},
        {"rules": [rule("age", "smaller", "")]},
        {"rules": [rule("age", "equals", True)]},
        {"rules": [rule("age", "equals", ["x"])]},
        {"rules": [rule("age", "equals", "x" * 256)]},
        {"rules": [{**rule("age", "equals", "x"), "type": "activity"}]},
        {"rules": ["age"]},
    ]
    for value in wrong:
        with pytest.raises(AudienceError):
            checked_criteria(value)


def test_rules_bundles_are_checked() -> None:
    bundle = {"criteria": [{"list_id": "3", "rules": [rule("EmailAddress", "contains", "@")]}]}
    assert checked_rules_bundle(bundle) == {
        "operator": "or",
        "criteria": [
            {"list_id": 3, "operator": "and", "rules": [rule("EmailAddress", "contains", "@")]}
        ],
    }
    for wrong in (
        {"operator": "and", "criteria": bundle["criteria"]},
        {"criteria": []},
        {"criteria": [{"rules": []}]},
        {"criteria": [{"list_id": 0, "rules": []}]},
        {"criteria": [{"list_id": True, "rules": []}]},
        {"criteria": ["x"]},
        "not json",
    ):
        with pytest.raises(AudienceError):
            checked_rules_bundle(wrong)


PEOPLE = {
    "ann@alpha.test": {"city": "Kraków", "age": "42", "code": "50%_off"},
    "bob@beta.test": {"city": "Berlin", "age": " 7 ", "code": "500"},
    "cid@alpha.test": {"city": "Boston", "age": "abc", "code": "5x0"},
    "dee@gamma.test": {"city": "Bern", "age": "-5.5", "code": ""},
    "eve@beta.test": {"city": "berlin", "age": "1.2.3"},
    "fay@gamma.test": {"age": "+-1", "city": "Paris"},
    "gus@gamma.test": {"age": ".5", "city": "Rome"},
    "hal@gamma.test": {"age": "100.", "city": "Oslo"},
    "ivy@gamma.test": {"age": "1e3", "city": "Lima"},
    "jon@gamma.test": {"age": "", "city": "Kyiv"},
}


async def people_list(db: Database) -> tuple[int, int]:
    user = (await create_user(db, "owner@audience.test")).user_id
    fields = [FieldSpec("City", "city"), FieldSpec("Age", "age", True), FieldSpec("Code", "code")]
    list_hash, _ = await create_list(db, user, "People", "", fields)
    found = await list_for_owner(db, user, list_hash)
    assert found is not None
    rows = [
        {"list_id": found.id, "email": email, "state": 1, "custom_fields": values}
        for email, values in PEOPLE.items()
    ]
    await db.write(lambda conn: conn.execute(insert(Subscriber), rows))
    return user, found.id


async def matching(db: Database, user: int, list_id: int, criteria: dict[str, Any]) -> set[str]:
    bundle = {"criteria": [{"list_id": list_id, **criteria}]}
    plan = await run_plan(db, user, {"rules": bundle})
    [target] = plan["targets"]
    statement = select(Subscriber.email).where(
        Subscriber.list_id == list_id, criteria_condition(target["criteria"])
    )
    return {row.email for row in await db.rows(statement)}


async def test_every_operator_in_sql(db: Database) -> None:
    user, list_id = await people_list(db)

    async def match(*rules: dict[str, Any], operator: str = "and") -> set[str]:
        found = await matching(db, user, list_id, {"operator": operator, "rules": list(rules)})
        return {email.split("@")[0] for email in found}

    assert await match(rule("EmailAddress", "contains", "ALPHA")) == {"ann", "cid"}
    assert await match(rule("emailaddress", "ends-with", "@beta.test")) == {"bob", "eve"}
    assert await match(rule("EmailAddress", "starts-with", "d")) == {"dee"}
    assert await match(rule("EmailAddress", "equals", "BOB@beta.test")) == {"bob"}
    assert await match(rule("City", "equals", "BERLIN")) == {"bob", "eve"}
    assert await match(rule("city", "is", "berlin")) == {"bob", "eve"}
    assert await match(rule("CITY", "starts-with", "b")) == {"bob", "cid", "dee", "eve"}
    assert await match(rule("city", "not-contains", "r")) == {"cid", "hal", "ivy", "jon"}
    assert len(await match(rule("city", "is-not", "berlin"))) == 8
    # LIKE's wildcards in a value are plain characters.
    assert await match(rule("code", "contains", "0%")) == {"ann"}
    assert await match(rule("code", "starts-with", "5_")) == set()
    assert await match(rule("code", "ends-with", "_off")) == {"ann"}
    # Numbers: text that is no number (abc, 1.2.3, +-1, 1e3, "") matches neither way.
    numbers = {"ann", "bob", "dee", "gus", "hal"}
    assert await match(rule("age", "greater", "-100")) == numbers
    assert await match(rule("age", "smaller", 10**9)) == numbers
    assert await match(rule("age", "greater", "7")) == {"ann", "hal"}
    assert await match(rule("age", "smaller", 7.5)) == {"bob", "dee", "gus"}
    assert await match(rule("age", "smaller", "-5.5")) == set()
    assert await match(rule("age", "greater", "0.4"), rule("age", "smaller", "0.6")) == {"gus"}
    either = await match(rule("city", "equals", "rome"), rule("age", "equals", "42"), operator="or")
    assert either == {"ann", "gus"}
    both = await match(rule("city", "contains", "b"), rule("EmailAddress", "contains", "beta"))
    assert both == {"bob", "eve"}


async def test_fields_are_named_by_tag_id_or_hash(db: Database) -> None:
    user, list_id = await people_list(db)
    city = next(f for f in await fields_of(db, list_id) if f.tag == "city")
    for field_id in ("city", "City", str(city.id), city.hash):
        criteria = {"rules": [rule(field_id, "equals", "rome")]}
        assert await matching(db, user, list_id, criteria) == {"gus@gamma.test"}
    with pytest.raises(AudienceError, match="no field"):
        await matching(db, user, list_id, {"rules": [rule("zip", "equals", "1")]})


async def test_plans_take_only_the_accounts_lists_segments_and_fields(db: Database) -> None:
    user, list_id = await people_list(db)
    other = (await create_user(db, "other@audience.test")).user_id
    other_hash, [other_field] = await create_list(db, other, "Theirs", "", [FieldSpec("X", "x")])
    theirs = await list_for_owner(db, other, other_hash)
    assert theirs is not None
    second_hash, _ = await create_list(db, user, "Second", "")
    second = await list_for_owner(db, user, second_hash)
    assert second is not None

    async def segment(owner: int, on_list: int, rules: dict[str, Any]) -> int:
        statement = (
            insert(Segment)
            .values(
                user_id=owner, list_id=on_list, hash=f"s{owner}{on_list}", name="S", rules=rules
            )
            .returning(Segment.id)
        )
        return int(await db.write(lambda conn: conn.execute(statement).scalar_one()))

    theirs_rule = rule(other_field.hash, "is", "")  # a field of another account's list
    romans = await segment(user, list_id, {"operator": "or", "rules": [rule("city", "is", "rome")]})
    foreign = await segment(other, theirs.id, {"rules": []})
    audience = {
        "lists": [
            {"list_id": list_id, "segment_id": romans},
            {"list_id": second.id, "segment_id": None},
            {"list_id": second.id, "segment_id": 0},
        ],
        "exclude": [{"list_id": second.id}],
        "rules": None,
    }
    assert await run_plan(db, user, audience) == {
        "targets": [
            {
                "list_id": list_id,
                "criteria": {
                    "operator": "or",
                    "rules": [{"tag": "city", "operator": "is", "value": "rome"}],
                },
            },
            {"list_id": second.id, "criteria": None},
        ],
        "exclude": [{"list_id": second.id, "criteria": None}],
    }
    bundle = {"criteria": [{"list_id": second.id, "rules": []}]}
    rules_win = await run_plan(db, user, {**audience, "rules": bundle})
    assert rules_win == {"targets": [{"list_id": second.id, "criteria": None}], "exclude": []}
    for wrong in (
        {"lists": [{"list_id": theirs.id}]},
        {"lists": [{"list_id": list_id}], "exclude": [{"list_id": theirs.id}]},
        {"lists": [{"list_id": theirs.id, "segment_id": foreign}]},
        {"lists": [{"list_id": second.id, "segment_id": romans}]},  # not that list's segment
        {"lists": [{"list_id": list_id, "segment_id": foreign}]},
        {"rules": {"criteria": [{"list_id": theirs.id, "rules": []}]}},
        {"rules": {"criteria": [{"list_id": second.id, "rules": [rule("city", "is", "x")]}]}},
        {"rules": {"criteria": [{"list_id": list_id, "rules": [theirs_rule]}]}},
        {"lists": []},
        {},
    ):
        with pytest.raises(AudienceError):
            await run_plan(db, user, wrong)
