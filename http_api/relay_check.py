"""`/api/v1/inbound-relay-domain-check`: may an MX relay mail for this domain to Mailgate?

Asked by MX servers (PowerMTA, Postfix policy scripts) for every incoming message, so it only
reads: the admin key (Bearer) by its digest, the domain through the same lookup the SMTP server
uses, both answers kept for a second (http_api/v1_auth.py); never rate limited.
Answers as documented: 200 relay allowed, 403 authentication failed, 500 relay denied (`{}`).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from http_api.context import context
from http_api.v1_dispatch import Auth, V1Call, V1Route


async def _relay_check(call: V1Call) -> Response | dict[str, Any]:
    given = str(call.params.get("domain") or "")
    domain = given.strip().rpartition("@")[2].rstrip(".").lower()
    if domain and await context(call.request).keys.is_relay_domain(domain):
        return {"Success": True, "RelayDomain": domain}
    return JSONResponse({}, status_code=500)


ROUTE = V1Route(_relay_check, Auth.ADMIN_BEARER)
endpoint = ROUTE.endpoint
