"""What both surfaces' webhook routes share (the `addwebhook`, `getwebhooks`, `deletewebhook`
commands of /api.php and `/api/v1/webhooks`): reading a new webhook's event and URL, the
checks it passes (its URL may only reach public addresses, see dns_tools.public_targets),
and the fields a listed webhook shows. Neither surface imports the other; both call this.

Event names: /api.php shows the legacy ones (`delivery`, `bounce`, ...), /api/v1 the
past-tense ones (`delivered`, `bounced`, ...); either is accepted on either surface, in any
case, from the one map in storage.event_names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dns_tools.public_targets import TargetRefused, check_target
from storage import webhooks
from storage.engine import Database
from storage.event_names import webhook_event
from storage.models import WebhookEvent

if TYPE_CHECKING:
    from http_api.context import HttpSettings


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
    db: Database, settings: HttpSettings, domain_id: int, event: WebhookEvent, url: str
) -> int:
    """Add the webhook once its URL is shown to reach only public addresses (unless the
    configuration allows private ones); 3 otherwise. Returns its id."""
    if len(url) > webhooks.MAX_URL_LENGTH:
        raise WebhookRefused(3, f"Invalid WebhookURL: longer than {webhooks.MAX_URL_LENGTH}")
    try:
        await check_target(url, settings.nameservers, settings.allow_private_targets)
    except TargetRefused as refused:
        raise WebhookRefused(3, f"Invalid WebhookURL: {refused.reason}") from None
    return await webhooks.add_webhook(db, domain_id, event, url)


def webhook_view(item: webhooks.WebhookView, event_name: str) -> dict[str, Any]:
    """One webhook as 001 lists it, with 004's `URL` and `Status` beside."""
    return {
        "WebhookID": item.webhook_id,
        "Event": event_name,
        "WebhookURL": item.url,
        "URL": item.url,
        "Status": "Active" if item.active else "Disabled",
    }
