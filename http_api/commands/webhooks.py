"""Webhook commands of the Email Gateway API (`addwebhook`, `getwebhooks`, `deletewebhook`); the
checks and views they share with `/api/v1/webhooks` are http_api/webhook_operations.py's.
/api.php shows the legacy event names (`delivery`, `bounce`, ...).
"""

from __future__ import annotations

from typing import Any

from http_api.api_php import Call, Refused, command, failed, id_param
from http_api.commands.domains import owned_domain
from http_api.context import context
from http_api.webhook_operations import WebhookRefused, add_checked, requested, webhook_view
from storage import webhooks
from storage.models import Permission


@command("emailgateway.addwebhook", permission=Permission.MANAGE_DOMAIN)
async def add_webhook(call: Call) -> dict[str, Any]:
    """Errors as a list, as 001 shows: [1] no DomainID, [2] no Event, [5] no WebhookURL, [3] an
    event that is not ours or a URL that may not be called, [4] no such domain, or another
    user's."""
    if call.get("DomainID") is None:
        return failed([1], "Missing required parameter (DomainID)")
    try:
        event, url = requested(call.get("Event"), call.get("WebhookURL"))
        domain_id = (await owned_domain(call)).id
        settings = context(call.request).settings
        webhook_id = await add_checked(call.db, settings, domain_id, event, url)
    except WebhookRefused as refused:
        return failed([refused.code], refused.message)
    except Refused:
        return failed([4], "Domain not found or access denied")
    return {"Success": True, "ErrorCode": 0, "NewWebhookID": webhook_id}


@command("emailgateway.getwebhooks", permission=Permission.MANAGE_DOMAIN)
async def get_webhooks(call: Call) -> dict[str, Any]:
    """The domain's signing key and webhooks (legacy event names). 1: no DomainID; 2: no such
    domain, or another user's."""
    domain = await owned_domain(call)
    found = await webhooks.list_webhooks(call.db, domain.id)
    listed = [
        {**webhook_view(item, item.event.value), "Events": [item.event.value]}  # 004: Events
        for item in found
    ]
    return {
        "Success": True,
        "ErrorCode": 0,
        "SigningKey": domain.webhook_signing_key,
        "Webhooks": listed,
    }


@command("emailgateway.deletewebhook", permission=Permission.MANAGE_DOMAIN)
async def delete_webhook(call: Call) -> dict[str, Any]:
    """1: no WebhookID; 2: no DomainID; 3: no such domain, or another user's; 4: no such webhook
    on that domain."""
    webhook_id = id_param(call, "WebhookID", failed(1, "Missing required parameter (WebhookID)"))
    if call.get("DomainID") is None:
        return failed(2, "Missing required parameter (DomainID)")
    try:
        domain_id = (await owned_domain(call)).id
    except Refused:
        return failed(3, "Domain not found or access denied")
    if not await webhooks.delete_webhook(call.db, webhook_id, domain_id):
        return failed(4, "Webhook not found or access denied")
    return {"Success": True, "ErrorCode": 0}
