"""`POST /api/v1/sender.domains`: the domains a PowerMTA in front of Mailgate must know
(http_api/domain_listing.py), for the admin key (Bearer, or `AdminAPIKey` in the body), or for
a request with no credential at all from the trusted networks (001's example sends none:
PowerMTA pulls the list from its own box); a wrong key is refused with 403 even from there
(http_api/v1_auth.py's `require_admin_or_trusted_network`)."""

from __future__ import annotations

from starlette.responses import Response

from http_api.domain_listing import listing, requested_format
from http_api.v1_dispatch import Auth, V1Call, V1Route


async def _sender_domains(call: V1Call) -> Response:
    return await listing(call.db, requested_format(call.params))


ROUTE = V1Route(_sender_domains, Auth.ADMIN_OR_TRUSTED_NETWORK)
endpoint = ROUTE.endpoint
