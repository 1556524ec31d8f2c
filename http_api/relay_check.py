"""`/api/v1/inbound-relay-domain-check`: may an MX relay mail for this domain to Mailgate?

Asked by MX servers (PowerMTA, Postfix policy scripts) for every incoming message, so it only
reads: the admin key by its digest, the domain through the same lookup the SMTP server uses.
Answers as documented: 200 relay allowed, 403 authentication failed, 500 relay denied.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from http_api.params import BadRequestBody, read_params
from storage.accounts import admin_key_matches
from storage.domains import is_inbound_relay_domain
from storage.engine import Database

AUTH_FAILED = {"Errors": [{"Code": 1, "Message": "Authentication failed. Invalid admin API key."}]}


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def endpoint(request: Request) -> Response:
    db: Database = request.app.state.db
    if not await admin_key_matches(db, bearer_token(request)):
        return JSONResponse(AUTH_FAILED, status_code=403)
    try:
        params = await read_params(request)
    except BadRequestBody:
        return JSONResponse({}, status_code=500)
    domain = str(params.get("domain") or "").strip().rpartition("@")[2].rstrip(".").lower()
    if domain and await is_inbound_relay_domain(db, domain):
        return JSONResponse({"Success": True, "RelayDomain": domain})
    return JSONResponse({}, status_code=500)
