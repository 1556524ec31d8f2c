"""The OpenAPI 3.0 document, assembled from the surfaces' registries (what exists, its methods
and access) and this package's declarations (what each operation takes and answers).

`/api.php` commands are one operation each, on the path `/api.php#<command>`: a client drops
the fragment, so every operation is a POST to /api.php with its own `Command` and its own
schemas. One POST with a discriminator on `Command` would be one operation to a fuzzer, its
examples spread over 45 commands and its answers checked against a union of them all."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.routing import BaseRoute, Route

from http_api import api_php
from http_api.openapi import api_php_ops, rest_ops, v1_ops
from http_api.openapi.schemas import Param, Schema, answer, body_schema, json_content
from http_api.rest import protocol as rest_protocol

V1_PREFIX = "/api/v1/"

SECURITY_SCHEMES: Schema = {
    "ApiKey": {"type": "apiKey", "in": "query", "name": "APIKey",
               "description": "A user's API key (`mailgate user add`); also accepted in the body"},
    "SessionID": {"type": "apiKey", "in": "query", "name": "SessionID",
                  "description": "A session from `user.login`; also accepted in the body"},
    "AdminApiKey": {"type": "apiKey", "in": "query", "name": "AdminAPIKey",
                    "description": "The gateway's admin key (`mailgate admin-key`)"},
    "SenderKey": {"type": "http", "scheme": "bearer",
                  "description": "A sender domain's API key (`emailgateway.addapi`)"},
    "SenderApiKey": {"type": "apiKey", "in": "query", "name": "SenderAPIKey",
                     "description": "A sender domain's API key, as a parameter"},
    "AdminKey": {"type": "http", "scheme": "bearer",
                 "description": "The gateway's admin key, as a bearer token"},
    "RestApiKey": {"type": "apiKey", "in": "header", "name": "X-Rest-ApiKey",
                   "description": "The account's 32-character REST key"},
    "RestApiSign": {"type": "apiKey", "in": "header", "name": "X-Rest-ApiSign",
                    "description": "hex sha1(ApiKey + access path with its query + raw body + "
                    "ApiSecret), over the bytes sent (003)"},
}  # fmt: skip

# 001 and 002 show a number, a list of numbers (`[1]`) and a number per name
# (`{"campaigns": 1}`); 002 shows ErrorText as a list beside a list of codes.
ERROR_CODE: Schema = {
    "oneOf": [
        {"type": "integer"},
        {"type": "array", "items": {"type": "integer"}},
        {"type": "object", "additionalProperties": {"type": "integer"}},
    ]
}
ERROR_TEXT: Schema = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
SCHEMAS: Schema = {
    "CommandError": answer(
        "Success",
        "ErrorCode",
        Success={"type": "boolean", "enum": [False]},
        ErrorCode=ERROR_CODE,
        ErrorMessage={"type": "string"},
        ErrorText=ERROR_TEXT,
    ),
    "DispatchError": answer(
        "Success",
        "ErrorCode",
        "ErrorText",
        Success={"type": "boolean", "enum": [False]},
        ErrorCode={"type": "integer"},
        ErrorText={"type": "string"},
    ),
    "RestAnswer": answer("status", "data", status={"type": "string", "enum": ["OK"]}),
    "RestError": answer(
        "status",
        "errors",
        status={"type": "string", "enum": ["ERROR"]},
        errors={
            "type": "array",
            "minItems": 1,
            "items": answer(
                "message", "code", message={"type": "string"}, code={"type": "integer"}
            ),
        },
    ),
    "V1Errors": answer(
        "Errors",
        Errors={
            "type": "array",
            "minItems": 1,
            "items": answer(
                "Code", "Message", Code={"type": "integer"}, Message={"type": "string"}
            ),
        },
    ),
}
_STATUS_TEXT = {
    400: "Bad request",
    401: "Missing or wrong key",
    403: "Not allowed",
    404: "Not found",
    405: "Method not supported",
    413: "Request too large",
    429: "Rate limit exceeded",
    503: "Temporary failure; try again",
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(statuses: Iterable[int], schema: str) -> Schema:
    return {str(status): json_content(_ref(schema), _STATUS_TEXT[status]) for status in statuses}


def document(routes: Iterable[BaseRoute]) -> Schema:
    """The description of the app whose routes are `routes`."""
    paths: Schema = {}
    paths.update(_api_php_paths())
    paths.update(_v1_paths(routes))
    paths.update(_rest_paths())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Mailgate HTTP API",
            "version": "1",
            "description": "The API documents' contract (spec 000-004) as Mailgate serves it: "
            "`/api.php` commands (each on `/api.php#<command>`; the fragment is not sent, "
            "`Command` in the body names it), the `/api/v1` routes and the signed `/rest` "
            "actions.",
        },
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": SCHEMAS},
    }


# /api.php


_ACCESS_SECURITY = {
    api_php.Access.USER: [{"ApiKey": []}, {"SessionID": []}],
    api_php.Access.ANYONE: [{}],
    api_php.Access.TRUSTED: [{}],
    api_php.Access.ADMIN: [{"AdminApiKey": []}],
}


def _api_php_paths() -> Schema:
    return {
        f"/api.php#{name}": {"post": _command_operation(name, registered, declared)}
        for name, registered in sorted(api_php.COMMANDS.items())
        if (declared := api_php_ops.COMMANDS.get(name)) is not None
    }


def _command_operation(
    name: str, registered: api_php.Registered, declared: api_php_ops.CommandDoc
) -> Schema:
    success = answer(
        "Success",
        *declared.answer,
        Success={"type": "boolean", "enum": [True]},
        ErrorCode={"type": "integer", "enum": [0]},
    )
    ok = json_content({"anyOf": [success, _ref("CommandError")]}, "The answer, or its error")
    if declared.plain_text:
        ok["content"]["text/plain"] = {"schema": {"type": "string"}}
    notes = [f"Access: {registered.access.value}."]
    if registered.permission is not None:
        notes.append(f"Requires the permission {registered.permission}.")
    if declared.errors:
        notes.append(f"Errors: {declared.errors}.")
    command = {"type": "string", "enum": [name]}
    return {
        "operationId": f"api.php:{name}",
        "tags": ["/api.php"],
        "summary": declared.summary,
        "description": " ".join(notes),
        "security": _ACCESS_SECURITY[registered.access],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": body_schema(declared.params, Command=command)}
            },
        },
        "responses": {
            "200": ok,
            **_errors((400, 403, 413), "DispatchError"),
        },
    }


# /api/v1


def v1_registered(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """(path, method) of every /api/v1 route of the app (HEAD aside)."""
    return {
        (route.path, method)
        for route in routes
        if isinstance(route, Route) and route.path.startswith(V1_PREFIX)
        for method in route.methods or ()
        if method != "HEAD"
    }


def _v1_paths(routes: Iterable[BaseRoute]) -> Schema:
    paths: Schema = {}
    for path, method in sorted(v1_registered(routes)):
        declared = v1_ops.ROUTES.get((path, method))
        if declared is not None:
            paths.setdefault(path, {})[method.lower()] = _v1_operation(path, method, declared)
    return paths


_V1_SECURITY: dict[v1_ops.Key, list[Schema]] = {
    v1_ops.Key.SENDER: [{"SenderKey": []}, {"SenderApiKey": []}],
    v1_ops.Key.ADMIN: [{"AdminKey": []}, {"AdminApiKey": []}],
}


def _v1_operation(path: str, method: str, declared: v1_ops.RouteDoc) -> Schema:
    operation: Schema = {
        "operationId": f"{method} {path}",
        "tags": ["/api/v1"],
        "summary": declared.summary,
        "security": _V1_SECURITY[declared.key],
        "responses": {
            "200": json_content(_v1_success(path, declared), "Success"),
            **_errors(declared.statuses, "V1Errors"),
        },
    }
    if path.endswith("sender.domains"):
        operation["responses"]["200"]["content"]["text/plain"] = {"schema": {"type": "string"}}
    if path.endswith("inbound-relay-domain-check"):
        denied = {"type": "object", "maxProperties": 0}
        operation["responses"]["500"] = json_content(denied, "Relay denied (001's answer)")
    if method == "POST":
        schema = body_schema(declared.params)
        operation["requestBody"] = {
            "required": any(param.required for param in declared.params),
            "content": {"application/json": {"schema": schema}},
        }
    else:
        operation["parameters"] = [_query(param) for param in declared.params]
    return operation


def _v1_success(path: str, declared: v1_ops.RouteDoc) -> Schema:
    """sender.domains answers /api.php's error shape with 200, as on /api.php (001)."""
    if path.endswith("sender.domains"):
        return {"anyOf": [declared.success, _ref("DispatchError")]}
    return declared.success


def _query(param: Param) -> Schema:
    return {
        "name": param.name,
        "in": "query",
        "required": param.required,
        "schema": param.schema,
        **({"description": param.description} if param.description else {}),
    }


# /rest

_PATH_PARAM = re.compile(r"\{(\w+)\}")


def _rest_paths() -> Schema:
    paths: Schema = {}
    for key, registered in sorted(rest_protocol.ACTIONS.items()):
        declared = rest_ops.ACTIONS.get(key)
        if declared is None:
            continue
        operations = paths.setdefault(declared.path, {})
        for method in sorted(registered.methods):
            operations[method.lower()] = _rest_operation(method, declared)
    return paths


def _rest_operation(method: str, declared: rest_ops.ActionDoc) -> Schema:
    operation: Schema = {
        "operationId": f"{method} {declared.path}",
        "tags": ["/rest"],
        "summary": declared.summary,
        "security": [{"RestApiKey": [], "RestApiSign": []}],
        "responses": {
            "200": json_content(_ref("RestAnswer"), "Success: the action's data"),
            **_errors((400, 401, 403, 404, 405, 413), "RestError"),
        },
    }
    names = _PATH_PARAM.findall(declared.path)
    if names:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": rest_ops.PATH_PARAMS[name]}
            for name in names
        ]
    if method == "POST":
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body_schema(declared.params)}},
        }
    return operation


def rest_action_of(path: str) -> tuple[str, str]:
    """The registry key of a declared access path: `/rest/subscriber/getHistory` ->
    ("subscriber", "gethistory")."""
    parts = [part for part in path.split("/")[2:] if part and not _PATH_PARAM.fullmatch(part)]
    return parts[0].lower(), (parts[1].lower() if len(parts) > 1 else "")


def undescribed(routes: Iterable[BaseRoute]) -> list[str]:
    """What is registered and has no declaration here."""
    return sorted(
        [f"/api.php {name}" for name in api_php.COMMANDS if name not in api_php_ops.COMMANDS]
        + [f"/rest {c}/{a}" for c, a in rest_protocol.ACTIONS if (c, a) not in rest_ops.ACTIONS]
        + [f"{m} {p}" for p, m in v1_registered(routes) if (p, m) not in v1_ops.ROUTES]
    )


def unregistered(routes: Iterable[BaseRoute]) -> list[str]:
    """What is declared here and no registry holds."""
    registered_v1 = v1_registered(routes)
    return sorted(
        [f"/api.php {name}" for name in api_php_ops.COMMANDS if name not in api_php.COMMANDS]
        + [f"/rest {c}/{a}" for c, a in rest_ops.ACTIONS if (c, a) not in rest_protocol.ACTIONS]
        + [f"{m} {p}" for p, m in v1_ops.ROUTES if (p, m) not in registered_v1]
        + [
            f"/rest path {doc.path}"
            for key, doc in rest_ops.ACTIONS.items()
            if rest_action_of(doc.path) != key
        ]
    )
