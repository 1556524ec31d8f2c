"""`/rest/subscriber/addBlocks` and `/rest/subscriber/removeBlocks` (003): the account's list of
blocked recipients is its suppression list (storage/suppressions.py, account scope), so a
blocked address is refused on every way mail leaves the account.

- `emails` is a table of addresses (JSON array, or `emails[]=` form fields), at most 100 of
  them, as for every action of the document's "many subscribers within one request" section;
  more answer that section's 1399. Missing or empty: 1336; not a table of strings: 1343.
- addBlocks: `stats` {added, existing, incorrect} and `Incorrect_mails` (the incorrect
  addresses as sent); an address already on the account's list, whatever put it there, is
  "existing". When every address is incorrect: 1301.
- removeBlocks: 003 says removing "is possible only with addresses you have blocked yourself":
  only entries addBlocks made (their own source, storage.suppressions.BLOCK_SOURCE) are removed.
  Suppressions from bounces, complaints and unsubscribes are not the account's blocks: they
  count as `not_existing` and stay. `stats` {removed, not_existing, incorrect}; no code for
  incorrect addresses is documented, so they are only counted.
"""

from __future__ import annotations

from typing import Any

from http_api.rest.protocol import RestCall, RestError, action
from mta.submission.composition import checked_address
from storage.suppressions import block, unblock

LIMIT = 100
ALL_INCORRECT = 1301
NOT_SUPPLIED = 1336
BAD_FORMAT = 1343
TOO_MANY = 1399


def _emails(call: RestCall) -> list[str]:
    """The `emails` table as sent, or the documented refusal."""
    given = call.param("emails")
    if isinstance(given, dict):  # emails[0]=...&emails[1]=... in a form
        given = list(given.values())
    if given is None or given == "" or given == []:
        raise RestError(NOT_SUPPLIED, "Recipient addresses not supplied")
    if not isinstance(given, list) or not all(isinstance(item, str) for item in given):
        raise RestError(BAD_FORMAT, "Format of submitted data is incorrect")
    if len(given) > LIMIT:
        raise RestError(TOO_MANY, f"Too many subscribers in one command - limit {LIMIT}")
    return given


def _sorted(given: list[str]) -> tuple[list[str], list[str]]:
    """The correct addresses (normalised) and the incorrect ones (as sent)."""
    correct: list[str] = []
    incorrect: list[str] = []
    for text in given:
        address, _ = checked_address(text.strip())
        if address is None:
            incorrect.append(text)
        else:
            correct.append(address)
    return correct, incorrect


@action("subscriber", "addBlocks")
async def add_blocks(call: RestCall) -> dict[str, Any]:
    correct, incorrect = _sorted(_emails(call))
    if not correct:
        raise RestError(ALL_INCORRECT, "Recipient addresses are incorrect")
    added = await block(call.db, call.account.user_id, correct)
    stats = {"added": added, "existing": len(correct) - added, "incorrect": len(incorrect)}
    return {"stats": stats, "Incorrect_mails": incorrect}


@action("subscriber", "removeBlocks")
async def remove_blocks(call: RestCall) -> dict[str, Any]:
    correct, incorrect = _sorted(_emails(call))
    removed = await unblock(call.db, call.account.user_id, correct) if correct else 0
    stats = {"removed": removed, "not_existing": len(correct) - removed}
    return {"stats": {**stats, "incorrect": len(incorrect)}}
