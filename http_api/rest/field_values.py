"""`/rest/subscriber/updateFieldValue` (003): set one custom field to one value for every
subscriber of a list, in the background (storage/background_jobs.py, run by
mta/notify/background_jobs.py), and report `{"id","updated"}` to the given URL when done.

The answer is the job's `id`. Codes, checked in this order:
- 1382: `listHash` or `tag` missing, or no list with that hash among the account's ("no hash
  list"; another account's list is not told apart from none);
- 1385: `value` missing (an empty string is a value: it clears the field);
- 1384: `value` longer than 255 characters;
- 1383: `url` missing, not http(s), or a host that does not resolve or is not public (the check
  webhook URLs get; `allow_private_targets` lifts the address rule);
- 1381: the list has no field with that tag;
- 1386: an update of that field of that list is still running (its callback aside).
"""

from __future__ import annotations

from typing import Any

from dns_tools.public_targets import TargetRefused, check_target
from http_api.context import context
from http_api.rest.protocol import RestCall, RestError, action
from storage.background_jobs import Refused, add_field_update
from storage.subscriber_lists import list_for_owner

VALUE_LIMIT = 255
NO_FIELD = 1381
NO_LIST_OR_TAG = 1382
BAD_URL = 1383
VALUE_TOO_LONG = 1384
NO_VALUE = 1385
IN_PROGRESS = 1386
REFUSED = {
    Refused.NO_FIELD: (NO_FIELD, "Additional field does not exist"),
    Refused.IN_PROGRESS: (IN_PROGRESS, "Updating process for field is in progress"),
}


def _text(call: RestCall, name: str) -> str | None:
    value = call.param(name)
    if isinstance(value, bool):
        return str(int(value))
    return str(value) if isinstance(value, str | int | float) else None


@action("subscriber", "updateFieldValue")
async def update_field_value(call: RestCall) -> dict[str, Any]:
    list_hash, tag = _text(call, "listHash"), _text(call, "tag")
    if not list_hash or not tag:
        raise RestError(NO_LIST_OR_TAG, "No hash list or tag for additional field")
    value = _text(call, "value")
    if value is None:
        raise RestError(NO_VALUE, "“Value” field is required")
    if len(value) > VALUE_LIMIT:
        raise RestError(
            VALUE_TOO_LONG, f"Too many characters in “value” field - max. {VALUE_LIMIT}"
        )
    url = await _checked_url(call)
    found = await list_for_owner(call.db, call.account.user_id, list_hash)
    if found is None:
        raise RestError(NO_LIST_OR_TAG, "No hash list or tag for additional field")
    job = await add_field_update(call.db, call.account.user_id, found.id, tag, value, url)
    if isinstance(job, Refused):
        raise RestError(*REFUSED[job])
    return {"id": job}


async def _checked_url(call: RestCall) -> str:
    url = (_text(call, "url") or "").strip()
    settings = context(call.request).settings
    try:
        await check_target(url, settings.nameservers, settings.allow_private_targets)
    except TargetRefused as refused:
        raise RestError(BAD_URL, f"Incorrect URL address: {refused.reason}") from None
    return url
