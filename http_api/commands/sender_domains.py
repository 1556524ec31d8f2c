"""`sender.domains` on /api.php, for the holder of the admin key (`AdminAPIKey`), as 001 says
for the legacy endpoint; the operation is http_api/domain_listing.py's."""

from __future__ import annotations

from starlette.responses import Response

from http_api.api_php import Access, Call, command
from http_api.domain_listing import listing, requested_format


@command("sender.domains", Access.ADMIN)
async def sender_domains(call: Call) -> Response:
    return await listing(call.db, requested_format(call.params))
