"""`emailgateway.getsuppressions` and `emailgateway.deletesuppression`: the caller's account's
suppression list (its own entries and its sender domains'; never another account's, nor the
gateway's global ones). Paging and codes as `emailgateway.getevents` has them."""

from __future__ import annotations

from typing import Any

from http_api.api_php import Call, command, failed, page_params
from http_api.suppression_views import MAX_ADDRESS, MAX_REASON, suppression_view
from storage.models import Permission
from storage.suppressions import SuppressionFilter, list_suppressions, remove_suppression

MAX_COUNT = 100


@command("emailgateway.getsuppressions", permission=Permission.MANAGE_DOMAIN)
async def get_suppressions(call: Call) -> dict[str, Any]:
    """Newest first. 3: an Address or Reason longer than any entry's; 4: no (or a negative)
    StartFrom; 5: no (or a non-positive) RetrieveCount, which is capped at 100."""
    assert call.caller is not None
    start, count = page_params(call, MAX_COUNT)
    address, reason = call.text("Address").strip(), call.text("Reason").strip()
    if len(address) > MAX_ADDRESS or len(reason) > MAX_REASON:
        return failed(3, "Invalid Address or Reason")
    selection = SuppressionFilter(
        user_id=call.caller.user_id,
        address=address or None,
        reason=reason or None,
        start=start,
        count=count,
    )
    total, rows = await list_suppressions(call.db, selection)
    return {
        "Success": True,
        "ErrorCode": 0,
        "TotalRecords": total,
        "Suppressions": [suppression_view(row) for row in rows],
    }


@command("emailgateway.deletesuppression", permission=Permission.MANAGE_DOMAIN)
async def delete_suppression(call: Call) -> dict[str, Any]:
    """Mail to the address is accepted again at once, whatever suppressed it. 1: no Address;
    2: the address is not on the caller's list; 3: an Address longer than any."""
    assert call.caller is not None
    address = call.text("Address").strip()
    if not address:
        return failed(1, "Missing required parameter (Address)")
    if len(address) > MAX_ADDRESS:
        return failed(3, "Invalid Address")
    removed = await remove_suppression(call.db, address, call.caller.user_id)
    if not removed:
        return failed(2, "Suppression not found or access denied")
    return {"Success": True, "ErrorCode": 0, "Removed": removed}
