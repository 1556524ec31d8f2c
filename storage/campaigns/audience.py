"""Who a campaign goes to: RulesJson criteria (002's RulesJsonBundle, and a segment's rules)
checked, turned into SQL conditions on subscribers, and a campaign's audience resolved into the
frozen plan a run queues from.

A criteria object is {"operator": "and"|"or", "rules": [{"type": "fields", "field_id",
"operator", "value"}]}. `field_id` is "EmailAddress" (the address) or one of the list's custom
fields by tag (any case), numeric id or hash. Operators: contains, equals (and its alias is),
starts-with, ends-with, not-contains, is-not (text, without regard to case; a missing value is
empty text) and greater, smaller (numbers: a stored value that is no number matches neither).

The plan names fields by their stored tag, so that renaming or deleting a field later does not
change a run that has started: {"targets": [{"list_id", "criteria"|None}], "exclude": [same]},
criteria rules as {"tag": tag|None (the address), "operator", "value"}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, func, literal, not_, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from storage.engine import Database
from storage.models import ListField, Segment, Subscriber, SubscriberList
from storage.row_ids import MAX_ROW_ID, row_id

EMAIL_FIELD = "emailaddress"  # "EmailAddress", matched without regard to case
TEXT_OPERATORS = frozenset(
    {"contains", "equals", "is", "starts-with", "ends-with", "not-contains", "is-not"}
)
NUMBER_OPERATORS = frozenset({"greater", "smaller"})
OPERATORS = TEXT_OPERATORS | NUMBER_OPERATORS
MAX_CRITERIA = 50  # per bundle
MAX_RULES = 100  # per criteria
MAX_VALUE = 255  # characters, as a custom field value
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*")


class AudienceError(ValueError):
    """Criteria that are malformed, or name lists, segments or fields the account does not
    have; the message says which."""


# -- checking ---------------------------------------------------------------------------------


def _decoded(value: Any, what: str) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            raise AudienceError(f"{what} is not valid JSON") from None
    return value


def _positive_int(value: Any, what: str) -> int:
    """A list or segment id: a positive number a row can have (storage.row_ids)."""
    if isinstance(value, bool):
        raise AudienceError(f"{what} must be a number")
    number = row_id(value)
    if not number:
        raise AudienceError(f"{what} must be a positive number no larger than {MAX_ROW_ID}")
    return number


def _checked_rule(rule: Any, index: int) -> dict[str, Any]:
    where = f"rule {index + 1}"
    if not isinstance(rule, Mapping):
        raise AudienceError(f"{where} must be an object")
    if rule.get("type", "fields") != "fields":
        raise AudienceError(f"{where}: only rules of type 'fields' are supported")
    field_id = rule.get("field_id")
    if isinstance(field_id, int) and not isinstance(field_id, bool):
        field_id = str(field_id)
    if not isinstance(field_id, str) or not field_id.strip():
        raise AudienceError(f"{where}: field_id is required")
    operator = str(rule.get("operator", "")).strip().lower()
    if operator not in OPERATORS:
        raise AudienceError(f"{where}: unknown operator {rule.get('operator')!r}")
    value = rule.get("value", "")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise AudienceError(f"{where}: value must be text or a number")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE:
        raise AudienceError(f"{where}: value longer than {MAX_VALUE} characters")
    if operator in NUMBER_OPERATORS and not _NUMBER.fullmatch(text):
        raise AudienceError(f"{where}: {operator} compares with a number")
    return {"type": "fields", "field_id": field_id.strip(), "operator": operator, "value": text}


def checked_criteria(value: Any) -> dict[str, Any]:
    """A segment's criteria ({"operator", "rules"}; a JSON text or an object) in its stored
    form; raises AudienceError. No rules means the whole list."""
    value = _decoded(value, "the criteria")
    if not isinstance(value, Mapping):
        raise AudienceError("the criteria must be an object")
    operator = str(value.get("operator", "and")).strip().lower()
    if operator not in ("and", "or"):
        raise AudienceError("the criteria's operator must be 'and' or 'or'")
    rules = value.get("rules", [])
    if not isinstance(rules, list):
        raise AudienceError("the criteria's rules must be a list")
    if len(rules) > MAX_RULES:
        raise AudienceError(f"more than {MAX_RULES} rules")
    return {"operator": operator, "rules": [_checked_rule(r, i) for i, r in enumerate(rules)]}


def checked_rules_bundle(value: Any) -> dict[str, Any]:
    """002's RulesJsonBundle (a JSON text or an object) in its stored form: {"operator": "or",
    "criteria": [{"list_id", "operator", "rules"}]}; raises AudienceError."""
    value = _decoded(value, "RulesJsonBundle")
    if not isinstance(value, Mapping):
        raise AudienceError("RulesJsonBundle must be an object")
    if str(value.get("operator", "or")).strip().lower() != "or":
        raise AudienceError("RulesJsonBundle's operator must be 'or'")
    criteria = value.get("criteria")
    if not isinstance(criteria, list) or not criteria:
        raise AudienceError("RulesJsonBundle needs criteria")
    if len(criteria) > MAX_CRITERIA:
        raise AudienceError(f"more than {MAX_CRITERIA} criteria")
    checked = []
    for index, item in enumerate(criteria):
        if not isinstance(item, Mapping):
            raise AudienceError(f"criteria {index + 1} must be an object")
        list_id = _positive_int(item.get("list_id"), f"criteria {index + 1}: list_id")
        checked.append({"list_id": list_id, **checked_criteria(item)})
    return {"operator": "or", "criteria": checked}


# -- SQL ----------------------------------------------------------------------------------------


class number_or_null(FunctionElement[Any]):
    """The text `value` as a number when it is one (an optional sign, digits, at most one
    decimal point, surrounding blanks ignored), else NULL: a comparison with it is false for
    text that is no number, and PostgreSQL never evaluates a cast that would raise."""

    type = Float()
    inherit_cache = True
    name = "number_or_null"

    def __init__(self, value: Any) -> None:
        super().__init__(value)


def _operand(element: number_or_null, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = element.clauses.clauses
    return str(compiler.process(value, **kw))


@compiles(number_or_null)
def _number_or_null(element: number_or_null, compiler: SQLCompiler, **kw: Any) -> str:
    text = f"btrim(CAST({_operand(element, compiler, **kw)} AS TEXT))"
    pattern = "'^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$'"
    return f"(CASE WHEN {text} ~ {pattern} THEN CAST({text} AS DOUBLE PRECISION) END)"


@compiles(number_or_null, "sqlite")
def _number_or_null_sqlite(element: number_or_null, compiler: SQLCompiler, **kw: Any) -> str:
    # No regular expressions in SQLite: at most one leading sign, then only digits and at most
    # one point, with a digit among them. (CAST never raises there, but reads "abc" as 0.)
    text = f"trim(CAST({_operand(element, compiler, **kw)} AS TEXT))"
    unsigned = f"ltrim({text}, '+-')"
    number = (
        f"{unsigned} NOT GLOB '*[^0-9.]*' AND {unsigned} GLOB '*[0-9]*'"
        f" AND length({text}) - length({unsigned}) <= 1"
        f" AND length({unsigned}) - length(replace({unsigned}, '.', '')) <= 1"
    )
    return f"(CASE WHEN {number} THEN CAST({text} AS REAL) END)"


def _like_escaped(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _rule_condition(rule: Mapping[str, Any], subscriber: Any) -> ColumnElement[bool]:
    tag, operator, value = rule["tag"], rule["operator"], rule["value"]
    stored = subscriber.email if tag is None else subscriber.custom_fields[tag].as_string()
    if operator in NUMBER_OPERATORS:
        number = number_or_null(stored)
        bound = literal(float(value), Float())
        return number > bound if operator == "greater" else number < bound
    text = func.lower(func.coalesce(stored, ""))
    if operator in ("equals", "is", "is-not"):
        equal = text == func.lower(literal(value))
        return not_(equal) if operator == "is-not" else equal
    pattern = {
        "contains": "%{}%",
        "not-contains": "%{}%",
        "starts-with": "{}%",
        "ends-with": "%{}",
    }[operator].format(_like_escaped(value))
    like = text.like(func.lower(literal(pattern)), escape="/")
    return not_(like) if operator == "not-contains" else like


def criteria_condition(
    criteria: Mapping[str, Any] | None, subscriber: Any = Subscriber
) -> ColumnElement[bool]:
    """The SQL condition of resolved `criteria` (a plan's: rules name tags) on `subscriber`
    (the Subscriber entity or an alias of it); None or no rules: every subscriber."""
    if not criteria or not criteria["rules"]:
        return true()
    conditions = [_rule_condition(rule, subscriber) for rule in criteria["rules"]]
    return and_(*conditions) if criteria["operator"] == "and" else or_(*conditions)


# -- plans --------------------------------------------------------------------------------------


async def _owned_list(db: Database, user_id: int, list_id: int) -> None:
    statement = select(SubscriberList.id).where(
        SubscriberList.id == list_id, SubscriberList.user_id == user_id
    )
    if await db.scalar(statement) is None:
        raise AudienceError(f"list {list_id} is not one of the account's lists")


async def _resolved(
    db: Database, user_id: int, list_id: int, criteria: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Checked `criteria` of the account's list `list_id` with fields named by their tags."""
    await _owned_list(db, user_id, list_id)
    if not criteria["rules"]:
        return None
    rows = await db.rows(
        select(ListField.id, ListField.hash, ListField.tag).where(ListField.list_id == list_id)
    )
    rules = []
    for rule in criteria["rules"]:
        field_id = rule["field_id"]
        tag = None
        if field_id.lower() != EMAIL_FIELD:
            tag = next(
                (
                    row.tag
                    for row in rows
                    if field_id.lower() == row.tag.lower()
                    or field_id == str(row.id)
                    or field_id == row.hash
                ),
                None,
            )
            if tag is None:
                raise AudienceError(f"list {list_id} has no field {field_id!r}")
        rules.append({"tag": tag, "operator": rule["operator"], "value": rule["value"]})
    return {"operator": criteria["operator"], "rules": rules}


async def _segment_criteria(
    db: Database, user_id: int, list_id: int, segment_id: int
) -> dict[str, Any] | None:
    statement = select(Segment.rules).where(
        Segment.id == segment_id, Segment.user_id == user_id, Segment.list_id == list_id
    )
    row = await db.first(statement)
    if row is None:
        raise AudienceError(f"segment {segment_id} is not one of list {list_id}'s segments")
    return await _resolved(db, user_id, list_id, checked_criteria(row.rules or {}))


async def _targets(db: Database, user_id: int, items: Any, what: str) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise AudienceError(f"the audience's {what} must be a list")
    targets: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise AudienceError(f"an entry of the audience's {what} must be an object")
        list_id = _positive_int(item.get("list_id"), "list_id")
        segment_id = item.get("segment_id")
        if segment_id in (None, 0, "0", ""):
            await _owned_list(db, user_id, list_id)
            criteria = None
        else:
            segment = _positive_int(segment_id, "segment_id")
            criteria = await _segment_criteria(db, user_id, list_id, segment)
        target = {"list_id": list_id, "criteria": criteria}
        if target not in targets:
            targets.append(target)
    return targets


async def run_plan(db: Database, user_id: int, audience: Mapping[str, Any]) -> dict[str, Any]:
    """The frozen plan of a campaign's `audience` ({"lists", "exclude", "rules"}): the rules
    bundle when there is one (lists and exclusions are then ignored, as 002 says), else the
    lists with their segments, less the exclusions. Raises AudienceError for lists, segments or
    fields that are not the account's, malformed criteria, or no target at all."""
    if not isinstance(audience, Mapping):
        raise AudienceError("the audience must be an object")
    if audience.get("rules"):
        bundle = checked_rules_bundle(audience["rules"])
        targets = []
        for criteria in bundle["criteria"]:
            resolved = await _resolved(db, user_id, criteria["list_id"], criteria)
            target = {"list_id": criteria["list_id"], "criteria": resolved}
            if target not in targets:
                targets.append(target)
        return {"targets": targets, "exclude": []}
    targets = await _targets(db, user_id, audience.get("lists"), "lists")
    if not targets:
        raise AudienceError("the campaign has no recipient lists")
    exclude = await _targets(db, user_id, audience.get("exclude"), "exclusions")
    return {"targets": targets, "exclude": exclude}
