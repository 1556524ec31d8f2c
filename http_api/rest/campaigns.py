"""`/rest/campaigns/...` (003): create, edit and delete an account's campaigns, send a test, and
send (now or at a time). The campaign, its email and its audience are storage.campaigns';
the test copies and the From check are mta/campaigns/message.py's; a campaign made Ready is
started by the campaign scheduler of `mailgate serve`.

Where the document is silent:
- Each action checks in the order of its codes; the first failing check answers. `list` and
  `group` are one hash or a table of them (or comma-separated); a hash that is not ten
  lower-case letters and digits is 1709 (lists) / 1710 (groups), one that is not a list (a
  segment) of the account 1711 / 1712. When `edit` gives `list` or `group`, the campaign
  goes to exactly the lists and groups given.
- `url`: an http(s) page fetched now as attachments of /rest/mail are (public addresses only,
  no redirects, 2 MiB at most): 1703 when it cannot be; the page is fetched again when each run
  starts (the email's content URL), and replaces `html`; a later `html` without `url` drops
  the URL.
- `from_address`: at an Enabled sender domain of the account, as /rest/mail's `from` (1706);
  absent: `noreply@` the account's oldest Enabled domain (none: the campaign cannot be sent,
  1735, until one is given). `from_name` absent: no display name. `reply_to` absent: none
  (replies go to From). `subject` absent: the campaign's name. `resignlink`: an http(s) URL
  (1713). Values longer than their columns (subject 998, names 255 characters) are 1704.
- `edit` of a campaign that is Sending, Paused, Sent or Canceled: 1751. Editing a Ready or
  Scheduled campaign checks and schedules it again.
- `sendTest`: at most 10 addresses (1723 beyond); `custom_fields` other than a table is 1002;
  "not ready for testing" (1725) is what `send` would call not ready (subject, content, lists,
  a From address at one of the account's Enabled domains); 1726 when the copies cannot be
  queued, or every address is suppressed for the account (some suppressed: the others are
  sent).
- `send`: `time` as `YYYY-MM-DD H:i:s` in the campaign's time zone (UTC: /rest sets no other),
  1732 otherwise; 1733 when it is before the current second. 1736 for a campaign that is Ready,
  Scheduled, Pending approval, Sending, Paused, Sent or Canceled; a Draft or Failed one is sent.
  On an account whose campaigns need approval it waits for approval (Pending approval).
- `delete`: 1724 for no hash or one that is not the account's; 1798 when it was deleted before.
  A Sending or Paused campaign is canceled first.
- Answers: `create` gives `{"hash"}`; the others give no data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from http_api.context import context
from http_api.item_lists import split_items
from http_api.rest.protocol import UNSUPPORTED_PROTOCOL, RestCall, RestError, action
from http_api.rest.subscriber_lists import text
from mta.campaigns.confirmation_mail import default_sender, noreply_address
from mta.campaigns.message import (
    MAX_CONTENT,
    CampaignContentError,
    campaign_sender,
    send_test,
)
from mta.checked_http import CallFailed, CallRefused, HttpOptions, HttpSender, TooLarge
from mta.submission.composition import checked_address
from mta.submission.submit import Gateway, SubmissionRefused, sender_by_address
from storage.campaigns import (
    BadStatus,
    CampaignUpdate,
    CampaignView,
    ContentTooLong,
    NameRequired,
    NotSendable,
    ScheduleInput,
    ScheduleProblem,
    UnknownTarget,
    checked_content,
    create_campaign,
    delete_campaigns,
    get_campaign_by_hash,
    get_email,
    resolve_targets,
    update_campaign,
)
from storage.campaigns.content import campaign_content
from storage.campaigns.reports import owned_campaign
from storage.campaigns.rules import EDITABLE, Transition, allowed, sendable_problem
from storage.campaigns.schedule import ScheduleError, local_instant
from storage.models import CampaignStatus, utcnow
from storage.subscriber_lists import HASH_ALPHABET, HASH_LENGTH

HASH = re.compile(f"[{HASH_ALPHABET}]{{{HASH_LENGTH}}}")
TEST_LIMIT = 10
SEND_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{1,2}:\d{2}:\d{2})")


def given(call: RestCall, name: str) -> str | None:
    """A scalar parameter as text, None when it was not sent."""
    value = call.param(name)
    return None if value is None else text(value)


def _one_line(value: str) -> bool:
    return not any(char in value for char in "\r\n\0")


# --- create and edit ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignFields:
    """What create and edit were given (None: not given)."""

    name: str | None
    content: dict[str, str | None]
    targets: list[str] | None
    resign_link: str | None


def _name(call: RestCall, creating: bool) -> str | None:
    name = given(call, "name")
    if (creating or name is not None) and not name:
        raise RestError(1701, "No campaign name")
    return name


async def _page_checked(call: RestCall, url: str) -> None:
    """The page the URL names can be fetched now (1703 otherwise)."""
    if not re.match(r"https?://", url, re.IGNORECASE):
        raise RestError(1703, "Error in URL address: an http or https URL is required")
    settings = context(call.request).settings
    http = HttpSender(HttpOptions(settings.nameservers, settings.allow_private_targets))
    try:
        fetched = await http.get(url, MAX_CONTENT)
    except TooLarge:
        raise RestError(1703, f"Error in URL address: more than {MAX_CONTENT} bytes") from None
    except (CallRefused, CallFailed) as error:
        raise RestError(1703, f"Error in URL address: {error}") from None
    finally:
        await http.close()
    if not 200 <= fetched.status < 300:
        raise RestError(1703, f"Error in URL address: it answered {fetched.status}")


async def _content(call: RestCall, creating: bool, name: str | None) -> dict[str, str | None]:
    html, body_text, url = (given(call, key) or None for key in ("html", "text", "url"))
    if creating and not (html or body_text or url):
        raise RestError(1702, "No content: html, text or url is required")
    content: dict[str, str | None] = {}
    if url:
        await _page_checked(call, url)
        content["content_url"] = url
    elif html:
        content["content_url"] = None
    if html:
        content["html"] = str(call.param("html"))
    if body_text:
        content["text"] = str(call.param("text"))
    subject = given(call, "subject")
    if subject or creating:
        content["subject"] = subject or name or ""
    return content


async def _sender_address(call: RestCall, creating: bool) -> dict[str, str]:
    gw: Gateway = context(call.request).gateway
    address = given(call, "from_address")
    if not address:
        if not creating:
            return {}
        sender = await default_sender(gw, call.account.user_id)
        return {"from_email": noreply_address(sender) if sender is not None else ""}
    checked, problem = checked_address(address)
    if checked is None:
        raise RestError(1706, f"Error in sender address: {problem}")
    try:
        sender = await sender_by_address(gw, checked)
    except SubmissionRefused as refused:
        raise RestError(1706, f"Error in sender address: {refused.reply}") from None
    if sender.user_id != call.account.user_id:
        raise RestError(1706, f"Error in sender address: {sender.domain} is not your domain")
    return {"from_email": checked}


def _names_and_reply_to(call: RestCall) -> dict[str, str]:
    values: dict[str, str] = {}
    from_name = given(call, "from_name")
    if from_name is not None:
        if not _one_line(from_name):
            raise RestError(1706, "Error in sender name: one line")
        values["from_name"] = from_name
    reply_to = given(call, "reply_to")
    if reply_to:
        checked, problem = checked_address(reply_to)
        if checked is None:
            raise RestError(1707, f"Error in reply to address: {problem}")
        values["reply_to_email"] = checked
    return values


def _hashes(call: RestCall, name: str, bad: int) -> list[str] | None:
    value = call.param(name)
    if value is None or value == "" or value == []:
        return None
    items = list(value.values()) if isinstance(value, dict) else value
    if isinstance(items, list) and not all(isinstance(item, str | int) for item in items):
        raise RestError(bad, f"At least one {name} hash has an error")
    hashes = split_items(items)
    if not all(HASH.fullmatch(item) for item in hashes):
        raise RestError(bad, f"At least one {name} hash has an error")
    return hashes


async def _targets(call: RestCall, creating: bool) -> list[str] | None:
    lists = _hashes(call, "list", 1709)
    groups = _hashes(call, "group", 1710)
    if lists is None and groups is None:
        if creating:
            raise RestError(1708, "No subscriber lists or groups")
        return None
    targets = []
    for hashes, is_group, code in ((lists, False, 1711), (groups, True, 1712)):
        for item in hashes or []:
            try:
                [found] = await resolve_targets(call.db, call.account.user_id, [item])
            except UnknownTarget:
                found = None
            if found is None or (found["segment_id"] is not None) != is_group:
                what = "group" if is_group else "subscriber list"
                raise RestError(code, f"No {what} found for hash {item}")
            segment = found["segment_id"]
            targets.append(f"{found['list_id']}:{segment}" if is_group else str(found["list_id"]))
    return targets


def _resign_link(call: RestCall) -> str | None:
    link = given(call, "resignlink")
    if link and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", link, re.IGNORECASE):
        raise RestError(1713, "Resignation link not in proper URL format")
    return link or None


async def read_fields(call: RestCall, creating: bool) -> CampaignFields:
    """The request's campaign fields, checked in the order of the codes."""
    if creating and not call.data:
        raise RestError(1705, "No parameters")
    name = _name(call, creating)
    content = await _content(call, creating, name)
    content |= await _sender_address(call, creating)
    content |= _names_and_reply_to(call)
    targets = await _targets(call, creating)
    resign_link = _resign_link(call)
    try:
        checked_content(content)
    except ContentTooLong as error:
        raise RestError(1704, f"Client error: {error}") from None
    return CampaignFields(name, content, targets, resign_link)


async def _apply(call: RestCall, view: CampaignView, fields: CampaignFields) -> None:
    change = CampaignUpdate(
        name=fields.name,
        content=fields.content,
        targets=fields.targets,
        resign_link=fields.resign_link,
    )
    try:
        await update_campaign(call.db, call.account.user_id, view.id, change)
    except NameRequired:
        raise RestError(1701, "No campaign name (or longer than 255 characters)") from None
    except UnknownTarget as error:
        raise RestError(1711, f"Nothing found for hash {error.item}") from None
    except (ContentTooLong, NotSendable, BadStatus) as error:
        raise RestError(1704, f"Client error: {error}") from None


@action("campaigns", "create")
async def create(call: RestCall) -> Any:
    fields = await read_fields(call, creating=True)
    assert fields.name is not None
    try:
        view = await create_campaign(call.db, call.account.user_id, fields.name)
    except NameRequired:
        raise RestError(1701, "No campaign name (or longer than 255 characters)") from None
    try:
        await _apply(call, view, fields)
    except Exception:
        await delete_campaigns(call.db, call.account.user_id, [view.id])
        raise
    return {"hash": view.hash}


@action("campaigns", "edit")
async def edit(call: RestCall) -> Any:
    campaign_hash = given(call, "id_hash") or ""
    view = await get_campaign_by_hash(call.db, call.account.user_id, campaign_hash)
    if view is None:
        raise RestError(1750, "No campaign to edit under given hash")
    if view.status not in EDITABLE:
        raise RestError(1751, "Campaign already sent, modification not possible")
    await _apply(call, view, await read_fields(call, creating=False))
    return None


@action("campaigns", "delete")
async def delete(call: RestCall) -> Any:
    campaign_hash = given(call, "hash") or ""
    found = await owned_campaign(call.db, call.account.user_id, campaign_hash)
    if found is None:
        raise RestError(1724, "No campaign with given hash")
    if found.deleted or not await delete_campaigns(call.db, call.account.user_id, [found.id]):
        raise RestError(1798, "Campaign has already been deleted")
    return None


# --- test and send -----------------------------------------------------------------------------


async def not_ready(call: RestCall, view: CampaignView) -> str | None:
    """Why the campaign cannot be sent: storage's rules (subject, content, lists, a From
    address), then the From address as the run will check it."""
    email = await get_email(call.db, view.user_id, view.email_id) if view.email_id else None
    problem = sendable_problem(view, email)
    if problem is not None:
        return problem
    content = await campaign_content(call.db, view.id)
    assert content is not None
    try:
        await campaign_sender(context(call.request).gateway, content)
    except CampaignContentError as error:
        return str(error)
    return None


def _test_addresses(call: RestCall) -> list[str]:
    value = call.param("emails")
    items = list(value.values()) if isinstance(value, dict) else value
    items = items if isinstance(items, list) else [items]
    wanted = [text(item) for item in items if text(item)]
    if not wanted:
        raise RestError(1722, "No email address")
    if len(wanted) > TEST_LIMIT:
        raise RestError(1723, f"Error in addresses: at most {TEST_LIMIT}")
    checked = []
    for item in wanted:
        address, problem = checked_address(item)
        if address is None:
            raise RestError(1723, f"Error in address {item!r}: {problem}")
        checked.append(address)
    return list(dict.fromkeys(checked))


def _test_fields(call: RestCall) -> Mapping[str, Any] | None:
    value = call.param("custom_fields")
    if value is None or value == "" or value == []:
        return None
    if not isinstance(value, dict):
        raise RestError(UNSUPPORTED_PROTOCOL, "custom_fields must be a table of tags and values")
    return value


@action("campaigns", "sendTest")
async def send_test_copies(call: RestCall) -> Any:
    campaign_hash = given(call, "hash") or ""
    if not HASH.fullmatch(campaign_hash):
        raise RestError(1721, "No hash or hash in wrong format")
    addresses = _test_addresses(call)
    fields = _test_fields(call)
    view = await get_campaign_by_hash(call.db, call.account.user_id, campaign_hash)
    if view is None:
        raise RestError(1724, "Campaign with given hash doesn't exist")
    problem = await not_ready(call, view)
    if problem is not None:
        raise RestError(1725, f"Campaign not ready for testing: {problem}")
    settings = context(call.request).settings
    http = HttpSender(HttpOptions(settings.nameservers, settings.allow_private_targets))
    try:
        done = await send_test(context(call.request).gateway, view.id, addresses, fields, http)
    except CampaignContentError as error:
        raise RestError(1726, f"Sending failed: {error}") from None
    finally:
        await http.close()
    if not done.sent:
        raise RestError(1726, "Sending failed: the addresses are blocked for this account")
    return None


def _send_time(call: RestCall) -> tuple[str, str] | None:
    """`time` as (date, time of day), None when not given; 1732 when not YYYY-MM-DD H:i:s."""
    value = given(call, "time")
    if not value:
        return None
    match = SEND_TIME.fullmatch(value)
    try:
        datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        match = None
    if match is None:
        raise RestError(1732, "Sending time is incorrect: YYYY-MM-DD H:i:s")
    return match.group(1), match.group(2)


def _schedule(view: CampaignView, when: tuple[str, str] | None, now: datetime) -> ScheduleInput:
    """Now, or at `when` in the campaign's time zone (1732 for a time the zone skips, 1733 for
    one before the current second)."""
    if when is None:
        return ScheduleInput(schedule_type="Immediate")
    date, time = when
    try:
        instant = local_instant(date, time, view.time_zone)
    except ScheduleError as error:
        raise RestError(1732, f"Sending time is incorrect: {error}") from None
    if instant < now.replace(microsecond=0):
        raise RestError(1733, "Sending time cannot be earlier than present time")
    return ScheduleInput(
        schedule_type="Future", send_date=date, send_time=time, time_zone=view.time_zone
    )


@action("campaigns", "send")
async def send(call: RestCall) -> Any:
    campaign_hash = given(call, "hash") or ""
    if not HASH.fullmatch(campaign_hash):
        raise RestError(1731, "No hash or hash is in incorrect format")
    when = _send_time(call)
    view = await get_campaign_by_hash(call.db, call.account.user_id, campaign_hash)
    if view is None:
        raise RestError(1734, "No campaign with given hash")
    now = utcnow()
    schedule = _schedule(view, when, now)
    if not allowed(Transition.SEND_ON_REST, view.status):
        raise RestError(1736, f"Campaign already finalised for sending ({view.status})")
    problem = await not_ready(call, view)
    if problem is not None:
        raise RestError(1735, f"Campaign not ready: {problem}")
    change = CampaignUpdate(status=CampaignStatus.READY, schedule=schedule)
    try:
        after = await update_campaign(call.db, call.account.user_id, view.id, change, now)
    except ScheduleProblem as error:
        raise RestError(1732, f"Sending time is incorrect: {error.detail}") from None
    except NotSendable as error:
        raise RestError(1735, f"Campaign not ready: {error}") from None
    except BadStatus as error:
        raise RestError(1736, f"Campaign already finalised for sending: {error}") from None
    if after is None:
        raise RestError(1734, "No campaign with given hash")
    return None
