"""`/api/v1/webhooks` for the holder of a sender domain's API key (Bearer, or `SenderAPIKey` in
the query or body): POST adds a webhook, GET lists them, DELETE removes one. Event names are
the /api/v1 ones (`delivered`, `bounced`, ...), the legacy ones are accepted too. Errors in the
/api/v1 shape, {"Errors": [{"Code", "Message"}]}:

- 13 a missing or wrong key (401); 429 beyond the key's rate limit;
- 2 "Invalid user account" (403) when the key's domain belongs to a user who is not active;
- POST: 2 no Event, 5 no WebhookURL, 3 an event that is not ours or a URL that may not be called;
- DELETE: 1 no WebhookID, 4 no webhook by that id on the key's domain (404).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from http_api.commands.webhooks import WebhookRefused, add_checked, requested, webhook_view
from http_api.params import BadRequestBody, read_params
from http_api.v1_auth import INVALID_KEY, errors, owner_active, sender_domain
from storage import webhooks
from storage.engine import Database
from storage.event_names import v1_name

DELETED = {"Message": "Webhook successfully deleted."}  # 004's answer; 001's is {}


async def endpoint(request: Request) -> Response:
    db: Database = request.app.state.db
    try:
        params = await read_params(request)
    except BadRequestBody as error:
        return errors(0, str(error), 400)
    domain_id = await sender_domain(request, params, missing=INVALID_KEY)
    if isinstance(domain_id, Response):
        return domain_id
    if not await owner_active(request, domain_id):
        return errors(2, "Invalid user account", 403)
    if request.method == "GET":
        return await _list(db, domain_id)
    if request.method == "DELETE":
        return await _delete(db, domain_id, params)
    return await _add(request, db, domain_id, params)


async def _add(request: Request, db: Database, domain_id: int, params: dict[str, Any]) -> Response:
    try:
        event, url = requested(params.get("event"), params.get("webhookurl"))
        settings = request.app.state.settings
        webhook_id = await add_checked(db, settings, domain_id, event, url)
    except WebhookRefused as refused:
        return errors(refused.code, refused.message, 400)
    return JSONResponse({"NewWebhookID": webhook_id})


async def _list(db: Database, domain_id: int) -> Response:
    found = await webhooks.list_webhooks(db.engine, domain_id)
    return JSONResponse({"Webhooks": [webhook_view(item, v1_name(item.event)) for item in found]})


async def _delete(db: Database, domain_id: int, params: dict[str, Any]) -> Response:
    raw = params.get("webhookid")
    if raw is None or raw == "":
        return errors(1, "WebhookID is missing", 400)
    try:
        webhook_id = int(raw)
    except (TypeError, ValueError):
        webhook_id = -1  # names no webhook
    if not await webhooks.delete_webhook(db.engine, webhook_id, domain_id):
        return errors(4, "Invalid WebhookID", 404)
    return JSONResponse(DELETED)
