"""`/rest/subscriber/...` (003): add, edit, show and delete the subscribers of a list, one at a
time or up to 100 in one call, and show a subscriber's history.

Double opt-in: a subscriber added (or added again after leaving) awaiting activation, with
`confirm` 1 (the default), is sent a mail with a signed link (mta/campaigns/confirmation_mail.py,
http_api/activation_links.py). When it cannot be sent (no enabled sender domain, a
suppressed address) the subscriber is still added; `add` says so in `confirmation_sent`, and
the gateway logs why.

Where the document is silent: addresses are matched in lower case; every documented state may
be given to add and edit; `get` of an address not on the list answers 1313 (getHistory's code
for it); the batch answers are addMultiple's (`inserted`, `not_inserted`, `Errors` of {email, error,
code}), with the counts also under the action's names (`updated`/`not_updated`,
`deleted`/`not_deleted`);
a batch in which no address succeeds is an error (1331 for add and edit, 1321 for delete) that
lists each address's error after it; `getMultiple` answers one item per address asked for,
`{email, state, custom_fields}` or `{email, errors: [{error, code}]}`; `deleteMultiple` without
addresses answers 1352; a custom field value that the list's fields do not allow is 1303 in
every action; history `limit` is 1 to 1000.

The history is the account's campaigns sent to the address (whichever of its lists took it
there), newest first: `state` is DELIVERED, SOFT_BOUNCE, HARD_BOUNCE, or SENT while the mail is
still on its way; `get`'s `sent` is when the latest of them was sent (null before any).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from http_api.activation_links import activation_link
from http_api.context import context
from http_api.networks import client_host
from http_api.params import whole_number
from http_api.rest.protocol import RestCall, RestError, action
from http_api.rest.subscriber_lists import TIME_FORMAT, text
from mta.campaigns.confirmation_mail import send_confirmation
from mta.submission.composition import checked_address
from mta.submission.submit import Origin
from storage.campaigns.reports import subscriber_history
from storage.models import SubscriberState
from storage.subscriber_lists import FieldView, ListRow, fields_of, list_for_owner
from storage.subscribers import (
    Added,
    AddResult,
    Entry,
    InvalidFieldValue,
    add_subscribers,
    checked_values,
    delete_subscribers,
    edit_subscribers,
    subscribers_by_email,
)

BATCH_LIMIT = 100
HISTORY_LIMIT = 1000
_BAD_ADDRESS = "Email address not correct"
_BAD_FIELDS = "One or more additional fields contains an error"


def address(value: Any) -> str | None:
    """The address as stored (checked, normalised, lower case), or None."""
    checked, _ = checked_address(text(value)) if text(value) else (None, "")
    return checked.lower() if checked else None


def required_address(value: Any, code: int, message: str) -> str:
    """The address as stored, or RestError(code, message) for a missing or bad one."""
    checked = address(value)
    if checked is None:
        raise RestError(code, message)
    return checked


def state_of(value: Any, default: SubscriberState | None, code: int) -> SubscriberState | None:
    if value is None or text(value) == "":
        return default
    try:
        return SubscriberState(int(text(value)))
    except ValueError:
        raise RestError(code, "Attempted addition of improper subscriber status") from None


async def owned_list(call: RestCall, value: Any, code: int, message: str) -> ListRow:
    found = await list_for_owner(call.db, call.account.user_id, text(value))
    if found is None:
        raise RestError(code, message)
    return found


class EntryError(Exception):
    def __init__(self, email: str, code: int, message: str) -> None:
        super().__init__(message)
        self.email, self.code, self.message = email, code, message

    def answer(self) -> dict[str, Any]:
        return {"email": self.email, "error": self.message, "code": self.code}


def entry(fields: Sequence[FieldView], email: Any, values: Any, bad_address: int) -> Entry:
    checked = address(email)
    if checked is None:
        raise EntryError(text(email), bad_address, _BAD_ADDRESS)
    try:
        return Entry(checked, checked_values(fields, values))
    except InvalidFieldValue as error:
        raise EntryError(checked, 1303, f"{_BAD_FIELDS}: {error}") from None


async def confirm(
    call: RestCall, found: ListRow, results: Sequence[AddResult], state: SubscriberState
) -> bool | None:
    """Send the confirmation mail to each address newly awaiting activation, when asked to;
    True when every one that was due was queued, None when none was due."""
    wanted = text(call.param("confirm")) not in ("0", "false")
    if state is not SubscriberState.AWAITING_ACTIVATION or not wanted:
        return None
    client = client_host(call.request)
    origin = Origin(helo="rest", client_ip=client, protocol="HTTP")
    all_sent = True
    for result in results:
        if result.outcome is Added.EXISTS:
            continue
        link = activation_link(call.request, result.subscriber_id, result.email)
        if link is None:
            all_sent = False
            continue
        gateway = context(call.request).gateway
        mailed = await send_confirmation(
            gateway, call.account.user_id, result.email, found.name, link, origin
        )
        all_sent = all_sent and mailed.message_id is not None
    return all_sent


@action("subscriber", "add")
async def add(call: RestCall) -> Any:
    checked = required_address(call.param("email"), 1301, "Email address error")
    found = await owned_list(call, call.param("list"), 1302, "Subscriber list does not exist")
    state = state_of(call.param("state"), SubscriberState.AWAITING_ACTIVATION, 1305)
    assert state is not None
    try:
        new = entry(await fields_of(call.db, found.id), checked, call.param("custom_fields"), 1301)
    except EntryError as error:
        raise RestError(error.code, error.message) from None
    [result] = await add_subscribers(call.db, found.id, [new], state)
    if result.outcome is Added.EXISTS:
        raise RestError(1304, "Subscriber already exists on this list and is active or awaiting")
    answer: dict[str, Any] = {"email": result.email, "state": int(state)}
    sent = await confirm(call, found, [result], state)
    if sent is not None:
        answer["confirmation_sent"] = sent
    return answer


@action("subscriber", "edit")
async def edit(call: RestCall) -> Any:
    found = await owned_list(call, call.param("list"), 1302, "Subscriber list does not exist")
    state = state_of(call.param("state"), None, 1305)
    try:
        change = entry(
            await fields_of(call.db, found.id),
            call.param("email"),
            call.param("custom_fields"),
            1331,
        )
    except EntryError as error:
        raise RestError(error.code, error.message) from None
    [edited] = await edit_subscribers(call.db, found.id, [change], state)
    if not edited:
        raise RestError(1331, "Subscriber doesn't exist")
    return None


def _shown(view: Any) -> dict[str, Any]:
    return {"email": view.email, "state": int(view.state), "custom_fields": view.custom_fields}


@action("subscriber", "get", methods=("GET",))
async def get(call: RestCall) -> Any:
    list_hash, email = [*call.path, "", ""][:2]
    found = await owned_list(call, list_hash, 1312, "Subscriber list doesn't exist")
    checked = required_address(email, 1311, "Error in email address")
    subscriber = (await subscribers_by_email(call.db, found.id, [checked])).get(checked)
    if subscriber is None:
        raise RestError(1313, "Subscriber doesn't exist on given list")
    last = await subscriber_history(call.db, call.account.user_id, checked, 1)
    return {**_shown(subscriber), "sent": last[0].sent_at.strftime(TIME_FORMAT) if last else None}


@action("subscriber", "delete")
async def delete(call: RestCall) -> Any:
    found = await owned_list(call, call.param("list"), 1322, "Subscriber list doesn't exist")
    checked = address(call.param("email"))
    if checked is None or not await delete_subscribers(call.db, found.id, [checked]):
        raise RestError(1321, "Address does not exist on this subscriber list")
    return None


def history_limit(value: Any) -> int:
    given = text(value)
    if value is None or given == "":
        return 10
    limit = whole_number(given, 1, HISTORY_LIMIT)
    if limit is None:
        raise RestError(1314, f"Value of limit is incorrect: 1 to {HISTORY_LIMIT}")
    return limit


@action("subscriber", "getHistory")
async def get_history(call: RestCall) -> Any:
    checked = required_address(call.param("email"), 1311, "Incorrect email address")
    found = await owned_list(call, call.param("list"), 1312, "Subscriber list does not exist")
    limit = history_limit(call.param("limit"))
    if not await subscribers_by_email(call.db, found.id, [checked]):
        raise RestError(1313, "Subscriber doesn't exist")
    entries = await subscriber_history(call.db, call.account.user_id, checked, limit)
    if not entries:
        raise RestError(1315, "Subscriber does not have an action")
    return [
        {
            "name": item.name,
            "email_topic": item.subject,
            "scheduled_sent": item.sent_at.strftime(TIME_FORMAT),
            "state": item.state,
            "opens_count": str(item.opens),
            "clicks_count": str(item.clicks),
        }
        for item in entries
    ]


def batch(call: RestCall, empty: int) -> list[dict[str, Any]]:
    """The `subscribers` table: items {email, custom_fields} (a bare address is read as one)."""
    value = call.param("subscribers")
    items = list(value.values()) if isinstance(value, dict) else value
    if not items or not isinstance(items, list):
        raise RestError(empty, "No email addresses given")
    if len(items) > BATCH_LIMIT:
        raise RestError(1399, f"Too many subscribers in one command - limit {BATCH_LIMIT}")
    return [item if isinstance(item, dict) else {"email": item} for item in items]


def _item(item: dict[str, Any], name: str) -> Any:
    return next((item[key] for key in item if str(key).lower() == name), None)


def entries_of(
    items: list[dict[str, Any]], fields: Sequence[FieldView], bad_address: int
) -> tuple[list[Entry], list[EntryError]]:
    good, bad = [], []
    for item in items:
        try:
            good.append(
                entry(fields, _item(item, "email"), _item(item, "custom_fields"), bad_address)
            )
        except EntryError as error:
            bad.append(error)
    return good, bad


def batch_answer(
    done: int, errors: list[EntryError], counts: tuple[str, str], failed: int
) -> dict[str, Any]:
    if not done and errors:
        more = [(error.code, f"{error.email}: {error.message}") for error in errors]
        raise RestError(failed, "Adding/updating subscriber failed", None, *more)
    # The document says edit and delete answer "identically" to addMultiple: its counts are
    # always there, and the action's own names beside them.
    answer: dict[str, Any] = {"inserted": done, "not_inserted": len(errors)}
    answer.update({counts[0]: done, counts[1]: len(errors), "Errors": [e.answer() for e in errors]})
    return answer


@action("subscriber", "addMultiple")
async def add_multiple(call: RestCall) -> Any:
    found = await owned_list(call, call.param("list"), 1332, "Subscriber list doesn't exist")
    state = state_of(call.param("state"), SubscriberState.AWAITING_ACTIVATION, 1335)
    assert state is not None
    items = batch(call, 1336)
    good, bad = entries_of(items, await fields_of(call.db, found.id), 1301)
    results = await add_subscribers(call.db, found.id, good, state) if good else []
    for result in results:
        if result.outcome is Added.EXISTS:
            bad.append(EntryError(result.email, 1304, "Subscriber already exists on this list"))
    added = [result for result in results if result.outcome is not Added.EXISTS]
    await confirm(call, found, added, state)
    return batch_answer(len(added), bad, ("inserted", "not_inserted"), 1331)


@action("subscriber", "editMultiple")
async def edit_multiple(call: RestCall) -> Any:
    found = await owned_list(call, call.param("list"), 1332, "Subscriber list doesn't exist")
    state = state_of(call.param("state"), None, 1335)
    items = batch(call, 1336)
    good, bad = entries_of(items, await fields_of(call.db, found.id), 1301)
    edited = await edit_subscribers(call.db, found.id, good, state) if good else []
    for change, was_there in zip(good, edited, strict=True):
        if not was_there:
            bad.append(EntryError(change.email, 1331, "Subscriber doesn't exist"))
    return batch_answer(sum(edited), bad, ("updated", "not_updated"), 1331)


@action("subscriber", "getMultiple")
async def get_multiple(call: RestCall) -> Any:
    found = await owned_list(call, call.param("list"), 1341, "Subscriber list does not exist")
    items = batch(call, 1342)
    asked = [(text(_item(item, "email")), address(_item(item, "email"))) for item in items]
    known = await subscribers_by_email(call.db, found.id, [a for _, a in asked if a])
    answer = []
    for given, checked in asked:
        if checked is None:
            problem = {"error": "Error in email address", "code": 1311}
        elif checked not in known:
            problem = {"error": "Subscriber doesn't exist on given list", "code": 1313}
        else:
            answer.append(_shown(known[checked]))
            continue
        answer.append({"email": given, "errors": [problem]})
    return answer


@action("subscriber", "deleteMultiple")
async def delete_multiple(call: RestCall) -> Any:
    found = await owned_list(call, call.param("list"), 1351, "Subscriber list doesn't exist")
    items = batch(call, 1352)
    asked = [(text(_item(item, "email")), address(_item(item, "email"))) for item in items]
    deleted = await delete_subscribers(call.db, found.id, [a for _, a in asked if a])
    missing = "Address does not exist on this subscriber list"
    bad = [EntryError(given, 1321, missing) for given, checked in asked if checked not in deleted]
    return batch_answer(len(deleted), bad, ("deleted", "not_deleted"), 1321)
