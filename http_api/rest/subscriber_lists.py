"""`/rest/subscribers_list/...` (003): create, update, delete and list an account's subscriber
lists, add custom fields to a list and show them.

Where the document is silent: a name longer than 255 characters cannot be stored (create:
1602, update: 1611); `delete` without a hash answers 1605 (nothing to delete), and a hash the
account does not own 1604; `lists` also shows each list's numeric `id`, which campaigns take as
well as the hash, and `subscribers_number` counts active subscribers; `getFields` also shows
each field's `type`. Tags are stored and matched in lower case; a tag made from a field's name
keeps its letters and digits (accents dropped) with underscores between words.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from http_api.params import scalar_text
from http_api.rest.protocol import RestCall, RestError, action
from storage.subscriber_lists import (
    DuplicateTag,
    FieldSpec,
    FieldView,
    InvalidTag,
    checked_tag,
    create_list,
    delete_list,
    fields_of,
    list_for_owner,
    lists_of,
    tag_from_name,
    update_list,
)
from storage.subscriber_lists import add_field as store_field

NAME_LIMIT = 255
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def text(value: Any) -> str:
    """A scalar parameter as text, stripped (params.scalar_text: "" for none, and for a table
    or a NUL where text was wanted)."""
    return scalar_text(value).strip()


class FieldError(ValueError):
    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part  # "name", "tag" or "type"


def field_spec(name: Any, tag: Any, kind: Any) -> FieldSpec:
    """A custom field from the request's name, tag (made from the name when empty) and type
    (0 text, 1 numeric; text when empty); raises FieldError naming what is wrong."""
    field_name = text(name)
    if not field_name or len(field_name) > NAME_LIMIT:
        raise FieldError("name")
    try:
        field_tag = checked_tag(text(tag) or tag_from_name(field_name))
    except InvalidTag:
        raise FieldError("tag") from None
    kind_text = text(kind)
    if kind_text not in ("", "0", "1"):
        raise FieldError("type")
    return FieldSpec(field_name, field_tag, kind_text == "1")


def field_answer(field: FieldView) -> dict[str, Any]:
    return {
        "id_hash": field.hash,
        "field_name": field.name,
        "personalization_tag": field.tag,
        "field_type": int(field.numeric),
    }


_CREATE_FIELD_ERRORS = {
    "name": (1603, "Incorrect list of custom fields: a field has no name"),
    "tag": (1604, "Personalization tag should consist of only letters, digits and underscore"),
    "type": (1605, "Incorrect field type"),
}


def create_specs(value: Any) -> list[FieldSpec]:
    """`custom_fields` of `create`: a table of {name, tag, type} (JSON, or a PHP form's
    `custom_fields[0][name]`)."""
    if value in (None, "", [], {}):
        return []
    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise RestError(1603, "Incorrect list of custom fields")
    specs = []
    for item in items:
        lowered = {str(key).lower(): item[key] for key in item}
        try:
            specs.append(field_spec(lowered.get("name"), lowered.get("tag"), lowered.get("type")))
        except FieldError as error:
            raise RestError(*_CREATE_FIELD_ERRORS[error.part]) from None
    return specs


@action("subscribers_list", "create")
async def create(call: RestCall) -> Any:
    name = text(call.param("name"))
    if not name:
        raise RestError(1601, "Empty value in name field")
    if len(name) > NAME_LIMIT:
        raise RestError(1602, f"Failed to create subscriber list: name over {NAME_LIMIT} chars")
    specs = create_specs(call.param("custom_fields"))
    description = text(call.param("description"))
    try:
        list_hash, fields = await create_list(
            call.db, call.account.user_id, name, description, specs
        )
    except DuplicateTag:
        raise RestError(1603, "Incorrect list of custom fields: a tag is given twice") from None
    except IntegrityError:
        raise RestError(1602, "Failed to create subscriber list") from None
    return {"hash": list_hash, "custom_fields": [field_answer(field) for field in fields]}


@action("subscribers_list", "update")
async def update(call: RestCall) -> Any:
    list_hash, name = text(call.param("hash")), text(call.param("name"))
    if not list_hash or not name or len(name) > NAME_LIMIT:
        raise RestError(1611, "Empty value in name field or no parameter")
    description = call.param("description")
    changed = await update_list(
        call.db,
        call.account.user_id,
        list_hash,
        name,
        None if description is None else text(description),
    )
    if not changed:
        raise RestError(1604, "No rights to this list")
    return None


@action("subscribers_list", "delete")
async def delete(call: RestCall) -> Any:
    list_hash = text(call.param("hash"))
    if not list_hash:
        raise RestError(1605, "Failed to delete subscriber list: no hash given")
    if not await delete_list(call.db, call.account.user_id, list_hash):
        raise RestError(1604, "No rights for this list")
    return None


@action("subscribers_list", "lists", methods=("GET", "POST"))
async def lists(call: RestCall) -> Any:
    return [
        {
            "id": found.id,
            "hash": found.hash,
            "name": found.name,
            "description": found.description,
            "creation_date": found.created_at.strftime(TIME_FORMAT),
            "subscribers_number": found.subscribers_number,
        }
        for found in await lists_of(call.db, call.account.user_id)
    ]


_ADD_FIELD_ERRORS = {
    "name": (1623, "Incorrect or empty field name"),
    "tag": (1624, "Incorrect tag name"),
    "type": (1625, "Incorrect field type"),
}


@action("subscribers_list", "addField")
async def add_field(call: RestCall) -> Any:
    found = await list_for_owner(call.db, call.account.user_id, text(call.param("hash")))
    if found is None:
        raise RestError(1622, "Incorrect or empty hash of subscriber list")
    try:
        spec = field_spec(call.param("name"), call.param("tag"), call.param("type"))
    except FieldError as error:
        raise RestError(*_ADD_FIELD_ERRORS[error.part]) from None
    try:
        field = await store_field(call.db, found.id, spec)
    except DuplicateTag:
        raise RestError(1626, "Custom field with this tag already exists") from None
    return field_answer(field)


@action("subscribers_list", "getFields", methods=("GET", "POST"))
async def get_fields(call: RestCall) -> Any:
    list_hash = text(call.param("hash")) or (call.path[0] if call.path else "")
    found = await list_for_owner(call.db, call.account.user_id, list_hash)
    if found is None:
        raise RestError(1632, "Incorrect or empty hash of subscriber list")
    return [
        {"hash": field.hash, "name": field.name, "tag": field.tag, "type": int(field.numeric)}
        for field in await fields_of(call.db, found.id)
    ]
