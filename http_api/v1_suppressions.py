"""`/api/v1/suppressions` for the holder of a sender domain's API key (Bearer, or `SenderAPIKey`
in the query or body), scoped to the key's domain's account (its own entries and its sender
domains'; never another account's, nor the gateway's global ones). GET lists them, newest
first: `{"TotalRecords", "Suppressions": [...]}`; DELETE with `{"Address": ...}` takes an
address off, and mail to it is accepted again at once. Errors in the /api/v1 shape,
{"Errors": [{"Code", "Message"}]}:

- 13 a missing or wrong key (401); 429 beyond the key's rate limit;
- 2 the key's domain belongs to an account that is not active (403);
- GET: 3 an Address or Reason longer than any entry's, 4 a bad StartFrom, 5 a bad
  RetrieveCount (paging as GET /api/v1/events: StartFrom from 0, RetrieveCount 5 by default,
  at most 100);
- DELETE: 1 no Address, 3 an Address longer than any, 4 not on the account's list (404).
"""

from __future__ import annotations

from typing import Any

from http_api.context import context
from http_api.params import scalar_text
from http_api.suppression_views import MAX_ADDRESS, MAX_REASON, suppression_view
from http_api.v1_auth import INVALID_KEY
from http_api.v1_dispatch import V1Call, V1Route
from http_api.v1_envelope import V1Error
from mta.submission.submit import sender_for_domain
from storage.suppressions import SuppressionFilter, list_suppressions, remove_suppression

DEFAULT_COUNT, MAX_COUNT = 5, 100


async def _suppressions(call: V1Call) -> dict[str, Any]:
    user_id = await _account(call)
    if call.request.method == "DELETE":
        return await _delete(call, user_id)
    return await _list(call, user_id)


async def _account(call: V1Call) -> int:
    """The key's domain's account: the sender lookup the dispatcher's active-owner check has
    just made (kept for a second), not another query. None when the domain has gone since the
    key was cached."""
    sender = await sender_for_domain(context(call.request).gateway, call.domain)
    if sender is None:
        raise V1Error(*INVALID_KEY, 401)
    return sender.user_id


def _text(call: V1Call, name: str, longest: int) -> str:
    value = scalar_text(call.params.get(name.lower())).strip()
    if len(value) > longest:
        raise V1Error(3, f"Invalid {name}")
    return value


async def _list(call: V1Call, user_id: int) -> dict[str, Any]:
    selection = SuppressionFilter(
        user_id=user_id,
        address=_text(call, "Address", MAX_ADDRESS) or None,
        reason=_text(call, "Reason", MAX_REASON) or None,
        start=call.number("StartFrom", 0, 4),
        count=min(call.number("RetrieveCount", DEFAULT_COUNT, 5, low=1), MAX_COUNT),
    )
    total, rows = await list_suppressions(call.db, selection)
    return {"TotalRecords": total, "Suppressions": [suppression_view(row) for row in rows]}


async def _delete(call: V1Call, user_id: int) -> dict[str, Any]:
    address = _text(call, "Address", MAX_ADDRESS)
    if not address:
        raise V1Error(1, "Address is missing")
    removed = await remove_suppression(call.db, address, user_id)
    if not removed:
        raise V1Error(4, "Address is not on the suppression list", 404)
    return {"Removed": removed}


ROUTE = V1Route(_suppressions, missing_key=INVALID_KEY)
endpoint = ROUTE.endpoint
