"""`GET /rest-activate/{token}`: the link of the double opt-in mail. Following it makes the
subscriber active and shows a short page; a token that is not ours, or was altered, answers 404.

A token names one subscriber: its id in 8 bytes and an HMAC-SHA256 (128 bits) of the id and
the subscriber's address, URL-safe base64, under a key derived from the server's key with a
label of its own. The address is in the MAC so that a token never activates another
subscriber who got the same id after a deletion.
"""

from __future__ import annotations

import functools
import hmac
import html

from starlette.requests import Request
from starlette.responses import Response

from http_api.tracking import _page as tracking_page
from http_api.tracking import not_found
from storage.models import SubscriberState
from storage.subscribers import activate, activation_target
from storage.tokens import derive_key, id_of_token, id_token

ROUTE = "/rest-activate/{token}"


@functools.lru_cache(maxsize=4)
def activation_key(conversion_key: bytes) -> bytes:
    return derive_key(conversion_key, b"mailgate subscriber activation v1")


def activation_token(key: bytes, subscriber_id: int, email: str) -> str:
    return id_token(key, subscriber_id, email.lower())


def activation_link(request: Request, subscriber_id: int, email: str) -> str | None:
    """The link for the confirmation mail, under the gateway's public URL; None when the
    server has no key to sign it with."""
    settings = request.app.state.settings
    if not settings.conversion_key:
        return None
    token = activation_token(activation_key(settings.conversion_key), subscriber_id, email)
    return settings.public_url.rstrip("/") + ROUTE.format(token=token)


def _page(title: str, text: str, status: int = 200) -> Response:
    shown = tracking_page(title, text)  # the unsubscribe pages' look
    shown.status_code = status
    return shown


async def activate_page(request: Request) -> Response:
    token = request.path_params["token"]
    conversion = request.app.state.settings.conversion_key
    subscriber_id = id_of_token(token)
    if subscriber_id is None or not conversion:
        return not_found()
    db = request.app.state.db
    target = await activation_target(db, subscriber_id)
    if target is None:
        return not_found()
    expected = activation_token(activation_key(conversion), target.id, target.email)
    if not hmac.compare_digest(expected.encode("ascii"), token.encode("ascii")):
        return not_found()
    state = await activate(db, target.id)
    address = html.escape(target.email)
    if state is SubscriberState.ACTIVE:
        return _page("Subscription confirmed", f"<b>{address}</b> is now subscribed. Thank you.")
    return _page(
        "Subscription not confirmed",
        f"<b>{address}</b> has left this list or its mail bounced; it was not subscribed again.",
        409,
    )
