"""`sender.domains`, the operation both surfaces serve (`POST /api/v1/sender.domains`, and the
command on /api.php): the domains a PowerMTA in front of Mailgate must know. Its answers are
the same on both, as 001 documents them (the legacy shape, on /api/v1 too):

    json                     {"Success": true, "Domains": [enabled sender domains]}
    powermta-relay-domains   `relay-domain <return-path domain>` lines: PowerMTA accepts the
                             bounces and complaints for them and relays them to Mailgate
    powermta-bounce-domains  `domain <return-path domain>` lines, for the `<address-list>` of a
                             `<bounce-processor>` block
    anything else            {"Success": false, "ErrorCode": 1, "ErrorText": "Invalid ..."}
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from http_api.metrics import ErrorAnswer
from storage.domains import enabled_domain_names, relay_domain_names
from storage.engine import Database

FORMATS = ("json", "powermta-bounce-domains", "powermta-relay-domains")


def requested_format(params: dict[str, Any]) -> str:
    """`DomainsResponseFormat` of the request's (lower-cased) parameters; json by default."""
    return str(params.get("domainsresponseformat") or "json").strip().lower()


async def listing(db: Database, response_format: str) -> Response:
    if response_format == "json":
        return JSONResponse({"Success": True, "Domains": await enabled_domain_names(db)})
    if response_format not in FORMATS:
        answer = {"Success": False, "ErrorCode": 1, "ErrorText": "Invalid DomainsResponseFormat"}
        return ErrorAnswer(answer, 200, 1)
    directive = "relay-domain" if response_format == "powermta-relay-domains" else "domain"
    names = await relay_domain_names(db)
    return PlainTextResponse("".join(f"{directive} {name}\n" for name in names))
