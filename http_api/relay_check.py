"""`/api/v1/inbound-relay-domain-check`: may an MX relay mail for this domain to Mailgate?

Asked by MX servers (PowerMTA, Postfix policy scripts) for every incoming message, so it only
reads: the admin key by its digest, the domain through the same lookup the SMTP server uses,
both answers kept for a second (http_api/v1_auth.py).
Answers as documented: 200 relay allowed, 403 authentication failed, 500 relay denied.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from http_api.params import BadRequestBody, read_params
from http_api.v1_auth import KeyCache, bearer_token, errors


def auth_failed() -> Response:
    return errors(1, "Authentication failed. Invalid admin API key.", 403)


async def endpoint(request: Request) -> Response:
    keys: KeyCache = request.app.state.keys
    if not await keys.is_admin(bearer_token(request)):
        return auth_failed()
    try:
        params = await read_params(request)
    except BadRequestBody:
        return JSONResponse({}, status_code=500)
    domain = str(params.get("domain") or "").strip().rpartition("@")[2].rstrip(".").lower()
    if domain and await keys.is_relay_domain(domain):
        return JSONResponse({"Success": True, "RelayDomain": domain})
    return JSONResponse({}, status_code=500)
