"""The routes recipients reach from a tracked message, on any host (tracking hosts such as
`links.example.com` point at the gateway; routing is on the path alone):

    GET  /t/o/{token}   the open pixel: a 1x1 GIF, never cached; records `opened`
    GET  /t/c/{token}   a click: 302 to the link's URL, signed in the token; records `clicked`
    GET  /u/{token}     the unsubscribe page, a button that confirms (a visit alone records
                        nothing: mail scanners fetch the links of a message)
    POST /u/{token}     unsubscribe: RFC 8058 one-click (`List-Unsubscribe=One-Click`) or the
                        page's button; records `unsubscribed` and suppresses the recipient;
                        the button then leads to the campaign's `resignlink` when it has one

A token that is not ours, or was altered, answers 404 and records nothing.
"""

from __future__ import annotations

import base64
import html
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from http_api.context import context
from http_api.pages import NO_STORE, not_found, page
from http_api.params import BadRequestBody, read_body
from mta.tracking.tokens import (
    InvalidToken,
    Purpose,
    read_link_part,
    read_recipient_token,
    split_click_token,
    tracking_key,
)
from storage.event_payloads import VisitorData
from storage.tracking import (
    CLICKED,
    OPENED,
    TrackedDelivery,
    record_engagement,
    tracked_delivery,
    unsubscribe,
)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
MAX_FORM = 4096
_USER_AGENT_LIMIT = 512


def _key(request: Request) -> bytes | None:
    conversion = context(request).settings.conversion_key
    return tracking_key(conversion) if conversion else None


async def _delivery(request: Request, purpose: Purpose, token: str) -> TrackedDelivery | None:
    key = _key(request)
    if key is None:
        return None
    try:
        delivery_id = read_recipient_token(key, purpose, token)
    except InvalidToken:
        return None
    return await tracked_delivery(context(request).db, delivery_id)


def _visitor(request: Request) -> VisitorData:
    return VisitorData(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent", "")[:_USER_AGENT_LIMIT],
    )


async def open_pixel(request: Request) -> Response:
    delivery = await _delivery(request, Purpose.OPEN, request.path_params["token"])
    if delivery is None:
        return not_found()
    await record_engagement(context(request).db, delivery, OPENED, _visitor(request))
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


async def click(request: Request) -> Response:
    try:
        recipient_part, link = split_click_token(request.path_params["token"])
    except InvalidToken:
        return not_found()
    delivery = await _delivery(request, Purpose.CLICK, recipient_part)
    key = _key(request)
    if delivery is None or key is None:
        return not_found()
    try:
        url = read_link_part(key, delivery.message_id, link)
    except InvalidToken:
        return not_found()
    if not url.lower().startswith(("http://", "https://")):
        return not_found()  # only http(s) links are signed; anything else is not ours
    data = _visitor(request) | VisitorData(link=url)
    await record_engagement(context(request).db, delivery, CLICKED, data)
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


_FORM = """<form method="post">
<input type="hidden" name="confirm" value="1">
<button type="submit">Unsubscribe</button>
</form>"""


async def unsubscribe_page(request: Request) -> Response:
    delivery = await _delivery(request, Purpose.UNSUBSCRIBE, request.path_params["token"])
    if delivery is None:
        return not_found()
    address = html.escape(delivery.recipient)
    return page("Unsubscribe", f"Stop sending mail like this to <b>{address}</b>?", _FORM)


async def unsubscribe_post(request: Request) -> Response:
    delivery = await _delivery(request, Purpose.UNSUBSCRIBE, request.path_params["token"])
    if delivery is None:
        return not_found()
    try:
        form = parse_qs((await read_body(request, MAX_FORM)).decode("utf-8", "replace"))
    except BadRequestBody:
        form = {}
    source = "page" if form.get("confirm") else "one-click"
    await unsubscribe(context(request).db, delivery, _visitor(request) | VisitorData(source=source))
    if source == "page" and delivery.resign_link:  # the campaign's own page takes it from here
        return RedirectResponse(delivery.resign_link, status_code=303, headers=NO_STORE)
    address = html.escape(delivery.recipient)
    return page("Unsubscribed", f"<b>{address}</b> will not receive this mail any more.")
