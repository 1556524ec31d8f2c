"""Building blocks of the description: parameter declarations and the JSON schemas of values
and answers that the surfaces share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

MAX_ID = 2**63 - 1  # http_api.params.MAX_ID: the largest id a row can have


def text(max_length: int = 255, min_length: int = 0, **more: Any) -> Schema:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, **more}


def integer(minimum: int = 0, maximum: int = MAX_ID) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def ident() -> Schema:
    """A row id: what `params.whole_number` reads."""
    return integer(1, MAX_ID)


def flag() -> Schema:
    """A 0/1 option, as the documents write it (a number or its text)."""
    return {"type": "integer", "enum": [0, 1]}


def email() -> Schema:
    return {"type": "string", "format": "email", "maxLength": 254}


def one_of_values(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def array(items: Schema, max_items: int = 50, min_items: int = 0) -> Schema:
    return {"type": "array", "items": items, "minItems": min_items, "maxItems": max_items}


@dataclass(frozen=True)
class Param:
    """One named value of a request: its JSON schema, whether it must be sent, what it means."""

    name: str
    schema: Schema
    required: bool = False
    description: str = ""


def body_schema(params: tuple[Param, ...], **fixed: Schema) -> Schema:
    """A JSON object of `params` (plus `fixed` required members such as `Command`)."""
    properties: Schema = dict(fixed)
    required = list(fixed)
    for param in params:
        properties[param.name] = (
            {**param.schema, "description": param.description}
            if param.description
            else param.schema
        )
        if param.required:
            required.append(param.name)
    shaped: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        shaped["required"] = required
    return shaped


def answer(*required: str, **properties: Schema) -> Schema:
    """A JSON object answer with `required` members (any value unless typed in `properties`)."""
    shaped: Schema = {"type": "object", "required": list(required)}
    if properties:
        shaped["properties"] = properties
    return shaped


def json_content(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
