"""`GET /rest-activate/{token}`: the link of the double opt-in mail (its token is
http_api/activation_links.py's). Following it makes the subscriber active and shows a short
page; a token that is not ours, or was altered, answers 404.
"""

from __future__ import annotations

import hmac
import html

from starlette.requests import Request
from starlette.responses import Response

from http_api.activation_links import activation_key, activation_token
from http_api.context import context
from http_api.pages import not_found, page
from storage.models import SubscriberState
from storage.subscribers import activate, activation_target
from storage.tokens import id_of_token


async def activate_page(request: Request) -> Response:
    token = request.path_params["token"]
    conversion = context(request).settings.conversion_key
    subscriber_id = id_of_token(token)
    if subscriber_id is None or not conversion:
        return not_found()
    db = context(request).db
    target = await activation_target(db, subscriber_id)
    if target is None:
        return not_found()
    expected = activation_token(activation_key(conversion), target.id, target.email)
    if not hmac.compare_digest(expected.encode("ascii"), token.encode("ascii")):
        return not_found()
    state = await activate(db, target.id)
    address = html.escape(target.email)
    if state is SubscriberState.ACTIVE:
        return page("Subscription confirmed", f"<b>{address}</b> is now subscribed. Thank you.")
    return page(
        "Subscription not confirmed",
        f"<b>{address}</b> has left this list or its mail bounced; it was not subscribed again.",
        status=409,
    )
