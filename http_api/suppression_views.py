"""A suppression entry as the surfaces show it (`emailgateway.getsuppressions`,
`GET /api/v1/suppressions`, `mailgate suppression list`), and the bound on an address they
take.

`Category` is the PowerMTA category of the bounce that suppressed the address. The table keeps
one `reason`: a hard bounce stores its category there, other entries a reason of their own
(`complaint`, `unsubscribed`, `blocked`, `soft bounces in a row`), whose Category is "".
"""

from __future__ import annotations

from typing import Any

from http_api.formats import utc_text
from mta.feedback.bounce_classes import CATEGORIES
from storage.suppressions import SuppressionRow

MAX_ADDRESS = 254  # RFC 5321's longest path; a longer value names no entry, and is refused
MAX_REASON = 64  # the column's length: a longer Reason names no entry, and is refused


def suppression_view(row: SuppressionRow) -> dict[str, Any]:
    return {
        "Address": row.address,
        "Reason": row.reason,
        "Category": row.reason if row.reason in CATEGORIES else "",
        "Source": row.source,
        "Scope": str(row.scope),
        "DomainID": row.sender_domain_id,
        "SenderDomain": row.sender_domain or "",
        "SuppressedAt": utc_text(row.created_at),
    }
