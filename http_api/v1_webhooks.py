"""`/api/v1/webhooks` for the holder of a sender domain's API key (Bearer, or `SenderAPIKey` in
the query or body): POST adds a webhook, GET lists them, DELETE removes one. Event names are
the /api/v1 ones (`delivered`, `bounced`, ...), the legacy ones are accepted too. Errors in the
/api/v1 shape, {"Errors": [{"Code", "Message"}]}:

- 13 a missing or wrong key (401); 429 beyond the key's rate limit;
- 2 "Invalid user account" (403) when the key's domain belongs to a user who is not active;
- POST: 2 no Event, 5 no WebhookURL, 3 an event that is not ours or a URL that may not be called;
- DELETE: 1 no WebhookID, 4 no webhook by that id on the key's domain (404); done, it answers
  `{}` as 001 shows (004, the older edition, shows a Message: 001 decides).
"""

from __future__ import annotations

from typing import Any

from http_api.context import context
from http_api.params import whole_number
from http_api.v1_auth import INVALID_KEY
from http_api.v1_dispatch import V1Call, V1Route
from http_api.v1_envelope import V1Error
from http_api.webhook_operations import WebhookRefused, add_checked, requested, webhook_view
from storage import webhooks
from storage.event_names import v1_name

DELETED: dict[str, Any] = {}  # 001's answer, literally (004's older edition shows a Message)


async def _webhooks(call: V1Call) -> dict[str, Any]:
    if call.request.method == "GET":
        return await _list(call)
    if call.request.method == "DELETE":
        return await _delete(call)
    return await _add(call)


async def _add(call: V1Call) -> dict[str, Any]:
    try:
        event, url = requested(call.params.get("event"), call.params.get("webhookurl"))
        settings = context(call.request).settings
        webhook_id = await add_checked(call.db, settings, call.domain, event, url)
    except WebhookRefused as refused:
        raise V1Error(refused.code, refused.message) from None
    return {"NewWebhookID": webhook_id}


async def _list(call: V1Call) -> dict[str, Any]:
    found = await webhooks.list_webhooks(call.db, call.domain)
    return {"Webhooks": [webhook_view(item, v1_name(item.event)) for item in found]}


async def _delete(call: V1Call) -> dict[str, Any]:
    raw = call.params.get("webhookid")
    if raw is None or raw == "":
        raise V1Error(1, "WebhookID is missing")
    webhook_id = whole_number(raw)  # not a number, or none a row can have: names no webhook
    deleted = webhook_id is not None and await webhooks.delete_webhook(
        call.db, webhook_id, call.domain
    )
    if not deleted:
        raise V1Error(4, "Invalid WebhookID", 404)
    return DELETED


ROUTE = V1Route(_webhooks, missing_key=INVALID_KEY)
endpoint = ROUTE.endpoint
