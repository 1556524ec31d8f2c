"""Webhook commands of the Email Gateway API (`addwebhook`, `getwebhooks`, `deletewebhook`), and
what they share with `/api/v1/webhooks`: the event names of both surfaces and the checks a new
webhook passes (its URL may only reach public addresses, see dns_tools.public_targets).

/api.php shows the legacy event names (`delivery`, `bounce`, ...), /api/v1 the past-tense ones
(`delivered`, `bounced`, ...); either is accepted on either surface, in any case. The names come
from the one map in storage.event_names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dns_tools.public_targets import TargetRefused, check_target
from http_api.api_php import Call, Refused, command, failed, id_param
from http_api.commands.domains import owned_domain
from storage import webhooks
from storage.engine import Database
from storage.event_names import webhook_event
from storage.models import Permission, WebhookEvent

if TYPE_CHECKING:
    from mailgate.config import Settings


class WebhookRefused(Exception):
    """A new webhook refused, with the code both surfaces document for it (2, 3 or 5)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def requested(event: Any, url: Any) -> tuple[WebhookEvent, str]:
    """The event and URL of a new webhook from the request's values (None when absent):
    2 without Event, 5 without WebhookURL, 3 for an event that is not ours."""
    if event is None or str(event).strip() == "":
        raise WebhookRefused(2, "Event is missing")
    if url is None or str(url).strip() == "":
        raise WebhookRefused(5, "WebhookURL is missing")
    parsed = webhook_event(event)
    if parsed is None:
        raise WebhookRefused(3, "Invalid Event value")
    return parsed, str(url).strip()


async def add_checked(
    db: Database, settings: Settings, domain_id: int, event: WebhookEvent, url: str
) -> int:
    """Add the webhook once its URL is shown to reach only public addresses (unless the
    configuration allows private ones); 3 otherwise. Returns its id."""
    if len(url) > webhooks.MAX_URL_LENGTH:
        raise WebhookRefused(3, f"Invalid WebhookURL: longer than {webhooks.MAX_URL_LENGTH}")
    try:
        await check_target(url, settings.nameservers, settings.allow_private_targets)
    except TargetRefused as refused:
        raise WebhookRefused(3, f"Invalid WebhookURL: {refused.reason}") from None
    return await webhooks.add_webhook(db.engine, domain_id, event, url)


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
        settings = call.request.app.state.settings
        webhook_id = await add_checked(call.db, settings, domain_id, event, url)
    except WebhookRefused as refused:
        return failed([refused.code], refused.message)
    except Refused:
        return failed([4], "Domain not found or access denied")
    return {"Success": True, "ErrorCode": 0, "NewWebhookID": webhook_id}


def webhook_view(item: webhooks.WebhookView, event_name: str) -> dict[str, Any]:
    """One webhook as 001 lists it, with 004's `URL` and `Status` beside."""
    return {
        "WebhookID": item.webhook_id,
        "Event": event_name,
        "WebhookURL": item.url,
        "URL": item.url,
        "Status": "Active" if item.active else "Disabled",
    }


@command("emailgateway.getwebhooks", permission=Permission.MANAGE_DOMAIN)
async def get_webhooks(call: Call) -> dict[str, Any]:
    """The domain's signing key and webhooks (legacy event names). 1: no DomainID; 2: no such
    domain, or another user's."""
    domain = await owned_domain(call)
    found = await webhooks.list_webhooks(call.db.engine, domain.id)
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
    if not await webhooks.delete_webhook(call.db.engine, webhook_id, domain_id):
        return failed(4, "Webhook not found or access denied")
    return {"Success": True, "ErrorCode": 0}
