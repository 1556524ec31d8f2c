"""`sender.domains` (`POST /api/v1/sender.domains`, and the command on /api.php): the domains a
PowerMTA in front of Mailgate must know, for the admin.

Who may ask: on /api/v1 the admin key (Bearer, or `AdminAPIKey` in the body), or a request with
no credential at all from the trusted networks (001's example sends none: PowerMTA pulls the
list from its own box); a wrong key is refused with 403 even from there. The decision is
http_api/v1_auth.py's `admin_or_trusted_network`. On /api.php the command needs `AdminAPIKey`,
as 001 says for the legacy endpoint.

    json                     {"Success": true, "Domains": [enabled sender domains]}
    powermta-relay-domains   `relay-domain <return-path domain>` lines: PowerMTA accepts the
                             bounces and complaints for them and relays them to Mailgate
    powermta-bounce-domains  `domain <return-path domain>` lines, for the `<address-list>` of a
                             `<bounce-processor>` block
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from http_api.api_php import Access, Call, command, failure
from http_api.params import BadRequestBody, read_params
from http_api.relay_check import auth_failed
from http_api.v1_auth import admin_or_trusted_network
from storage.domains import enabled_domain_names, relay_domain_names
from storage.engine import Database

FORMATS = ("json", "powermta-bounce-domains", "powermta-relay-domains")


async def listing(db: Database, response_format: str) -> Response:
    if response_format == "json":
        return JSONResponse({"Success": True, "Domains": await enabled_domain_names(db.engine)})
    if response_format not in FORMATS:
        return failure(1, "Invalid DomainsResponseFormat")
    directive = "relay-domain" if response_format == "powermta-relay-domains" else "domain"
    names = await relay_domain_names(db.engine)
    return PlainTextResponse("".join(f"{directive} {name}\n" for name in names))


def _format(params: dict[str, Any]) -> str:
    return str(params.get("domainsresponseformat") or "json").strip().lower()


async def endpoint(request: Request) -> Response:
    """The /api/v1 route: the admin key, or no credential from a trusted network."""
    db: Database = request.app.state.db
    try:
        params = await read_params(request)
    except BadRequestBody:
        params = {}
    refusal = auth_failed()
    refused = await admin_or_trusted_network(request, params, refusal)
    if refused is not None:
        return refused
    return await listing(db, _format(params))


@command("sender.domains", Access.ADMIN)
async def sender_domains(call: Call) -> Response:
    return await listing(call.db, _format(call.params))
