"""The campaign commands of 002 (`Campaign.*`, `Campaigns.*`), with its answers and codes as the
document shows them: ErrorCode a list for Campaign.Copy ([1]), an object for Campaigns.Delete
({"campaigns": 1}), a number elsewhere.

Where 002 has no code for a problem, the nearest documented one answers, with an ErrorMessage
that says what is wrong:
- Campaign.Get: 2 also for a campaign that is not the user's (or does not exist).
- Campaign.Update: 3 also for CampaignStatus Ready on a campaign that cannot be sent as it is
  (no subject, no content, no From, no audience, a recurrence that never fires) or that cannot
  be made Ready from where it is; 4 also for the campaign's other references and values: lists
  and segments that are not the user's, a RulesJsonBundle that is malformed or names lists or
  fields the user does not have, a FromEmail or ReplyToEmail that is not an address, a FromEmail
  outside the user's sender domains (the run would fail on it), a name or content longer than
  it may be, PublishOnRSS or S2SEnabled that are not yes/no values.
- Campaigns.Delete: {"campaigns": 1} also when an id is not a campaign of the user (another
  account's, unknown or deleted): nothing is deleted then.
- Campaign.Approve: 2 also for a campaign that is not Pending approval, or no longer sendable.
- Campaign.Cancel: 2 also for a campaign that is over (Sent, Failed); Canceled again succeeds.

Campaign.Approve is for whoever approves, never the account itself: the gateway's AdminAPIKey
approves any campaign, and an account's APIKey or SessionID approves its sub accounts'.
"""

from __future__ import annotations

from typing import Any

from http_api.api_php import (
    AUTH_FAILED,
    Access,
    Call,
    Refused,
    command,
    failed,
    failure,
    id_param,
)
from http_api.commands.emails import CONTENT_PARAMS, checked_addresses
from http_api.formats import utc_text
from http_api.item_lists import split_items
from http_api.params import whole_number
from storage import campaigns
from storage.accounts import admin_key_matches
from storage.campaigns import (
    CampaignQuery,
    CampaignUpdate,
    CampaignView,
    Missing,
    ScheduleInput,
    StatusChange,
)
from storage.campaigns.audience import AudienceError
from storage.campaigns.reports import campaign_statistics
from storage.models import CampaignStatus

DEFAULT_PAGE = 100
MAX_PAGE = 1000
TRUE = frozenset({"1", "true", "yes", "on", "enabled"})
FALSE = frozenset({"0", "false", "no", "off", "disabled", ""})


def flag(value: Any) -> bool | None:
    """A yes/no value (true/false, 1/0, Enabled/Disabled, yes/no); None for anything else."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in TRUE else False if text in FALSE else None


def wanted(call: Call, name: str) -> bool:
    return flag(call.get(name)) is True


def _campaign_id(call: Call, code: Any, message: str) -> int:
    return id_param(call, "CampaignID", failed(code, message))


@command("campaign.create")
async def create(call: Call) -> dict[str, Any]:
    """1: no CampaignName (or one longer than 255 characters)."""
    assert call.caller is not None
    try:
        made = await campaigns.create_campaign(
            call.db, call.caller.user_id, call.get("CampaignName")
        )
    except campaigns.NameRequired:
        return failed(1, "The campaign name is required.")
    return {"Success": True, "ErrorCode": 0, "CampaignID": made.id}


# --- Campaign.Get and Campaigns.Get -------------------------------------------------------------


def _items_text(entries: list[dict[str, Any]] | None) -> str:
    """Audience entries as RecipientListsAndSegments writes them: ListID:SegmentID (0: the
    whole list), comma-separated."""
    return ",".join(f"{e['list_id']}:{e.get('segment_id') or 0}" for e in entries or [])


def _recurrence_text(value: Any) -> str:
    if value is None:
        return ""
    return "*" if value == "*" else ",".join(str(v) for v in value)


def campaign_view(view: CampaignView) -> dict[str, Any]:
    """A campaign as Campaign.Get and Campaigns.Get show it: 002's names (Name and Status, and
    CampaignName and CampaignStatus beside them), the schedule as Campaign.Update takes it."""
    send_date, send_time = view.local_send()
    recurrence = view.recurrence or {}
    audience = view.audience or {}
    return {
        "CampaignID": view.id,
        "CampaignHash": view.hash,
        "Name": view.name,
        "CampaignName": view.name,
        "Status": str(view.status),
        "CampaignStatus": str(view.status),
        "RelEmailID": view.email_id or 0,
        "ScheduleType": str(view.schedule_type),
        "SendDate": send_date,
        "SendTime": send_time,
        "SendTimeZone": view.time_zone,
        "ScheduleRecDaysOfWeek": _recurrence_text(recurrence.get("days_of_week")),
        "ScheduleRecDaysOfMonth": _recurrence_text(recurrence.get("days_of_month")),
        "ScheduleRecMonths": _recurrence_text(recurrence.get("months")),
        "ScheduleRecHours": _recurrence_text(recurrence.get("hours")),
        "ScheduleRecMinutes": _recurrence_text(recurrence.get("minutes")),
        "ScheduleRecSendMaxInstance": recurrence.get("max_instances", 0),
        "ScheduleRecSentInstances": view.instances,
        "NextSendDateTime": utc_text(view.next_run_at),
        "RecipientListsAndSegments": _items_text(audience.get("lists")),
        "Exclude_RecipientListsAndSegments": _items_text(audience.get("exclude")),
        "RulesJsonBundle": audience.get("rules"),
        "GoogleAnalyticsDomains": ",".join(view.google_analytics_domains),
        "PublishOnRSS": "Enabled" if view.publish_on_rss else "Disabled",
        "S2SEnabled": view.s2s_enabled,
        "ApprovalUserExplanation": view.approval_explanation,
        "LastError": view.last_error or "",
        "CreateDateTime": utc_text(view.created_at),
        "SendProcessStartedOn": utc_text(view.sent_at),
        "SendProcessFinishedOn": utc_text(view.finished_at),
    }


def _ratio(part: int, whole: int) -> str:
    return "%.2f" % (100.0 * part / whole if whole else 0.0)


def statistics_view(stats: dict[str, Any]) -> dict[str, Any]:
    """Campaign statistics (storage.campaigns.reports) under 002's names."""
    sent = int(stats.get("subscribers", 0))
    hard, soft = int(stats.get("hard_bounce", 0)), int(stats.get("soft_bounce", 0))
    delivered = int(stats.get("delivered", 0))
    return {
        "TotalSent": sent,
        "TotalDelivered": delivered,
        "TotalHardBounces": hard,
        "TotalSoftBounces": soft,
        "HardBounceRatio": _ratio(hard, sent),
        "SoftBounceRatio": _ratio(soft, sent),
        "Statistics": {
            "OpenStatistics": {
                "TotalOpens": int(stats.get("opened", 0)),
                "UniqueOpens": int(stats.get("unique_opened", 0)),
                "OpenRatio": _ratio(int(stats.get("unique_opened", 0)), delivered),
            },
            "ClickStatistics": {
                "TotalClicks": int(stats.get("clicked", 0)),
                "UniqueClicks": int(stats.get("unique_clicked", 0)),
                "ClickRatio": _ratio(int(stats.get("unique_clicked", 0)), delivered),
            },
            "UnsubscriptionStatistics": {"TotalUnsubscriptions": int(stats.get("resigned", 0))},
            "ComplaintStatistics": {"TotalComplaints": int(stats.get("complaints", 0))},
            "BounceStatistics": {"TotalHardBounces": hard, "TotalSoftBounces": soft},
            "RecipientStatistics": {
                "Runs": int(stats.get("runs", 0)),
                "Queued": int(stats.get("queued", 0)),
                "SkippedInactive": int(stats.get("skipped_inactive", 0)),
                "SkippedSuppressed": int(stats.get("skipped_suppressed", 0)),
                "Duplicates": int(stats.get("duplicates", 0)),
                "Canceled": int(stats.get("canceled", 0)),
            },
        },
    }


def email_fields(email: campaigns.EmailView | None) -> dict[str, Any]:
    """The content of the campaign's email under Campaign.Update's parameter names."""
    return {
        param: (getattr(email, key) if email else "") or "" for param, key in CONTENT_PARAMS.items()
    }


@command("campaign.get")
async def get(call: Call) -> dict[str, Any]:
    """1: no campaignid; 2: not a number (and, 002 having no code for it, not the user's)."""
    assert call.caller is not None
    given = call.get("campaignid")
    if given is None:
        return failed(1, "Required parameter 'campaignid' is missing.")
    campaign_id = whole_number(given)
    if campaign_id is None:
        return failed(2, "The 'campaignid' parameter must be numeric.")
    view = await campaigns.get_campaign(call.db, call.caller.user_id, campaign_id)
    if view is None:
        return failed(2, "Campaign not found")
    email = (
        await campaigns.get_email(call.db, call.caller.user_id, view.email_id)
        if view.email_id
        else None
    )
    shown = campaign_view(view) | email_fields(email)
    stats = await campaign_statistics(call.db, view.id)
    if wanted(call, "retrievestatistics"):
        shown |= statistics_view(stats)
    if wanted(call, "retrievetags"):
        shown["Tags"] = view.tags
    return {
        "Success": True,
        "ErrorCode": 0,
        "Campaign": shown,
        "CampaignThroughput": {"EmailsPerSecond": stats.get("emails_per_second", 0)},
    }


STATUS_FILTERS = {str(status).lower(): status for status in CampaignStatus} | {
    "pending": CampaignStatus.PENDING_APPROVAL,
    "pendingapproval": CampaignStatus.PENDING_APPROVAL,
}


def _number(value: Any, default: int) -> int:
    """A whole number parameter (0 up to the largest id), else `default`."""
    number = whole_number(value)
    return default if number is None else number


def campaign_query(call: Call) -> CampaignQuery:
    """Campaigns.Get's filters; values that mean nothing fall back to their defaults (All
    statuses, CampaignID, DESC, from 0, 100 per request up to 1000), since 002 gives the
    command no error codes."""
    status = (call.text("CampaignStatus").strip() or "all").lower()
    found = STATUS_FILTERS.get(status)
    count = _number(call.get("RecordsPerRequest"), DEFAULT_PAGE)
    return CampaignQuery(
        statuses=[found] if found else [],
        keyword=call.text("SearchKeyword").strip(),
        order_field=call.text("OrderField") or "campaignid",
        descending=(call.text("OrderType").strip() or "desc").lower() != "asc",
        start=max(_number(call.get("RecordsFrom"), 0), 0),
        count=min(count if count > 0 else DEFAULT_PAGE, MAX_PAGE),
        tags=split_items(call.get("Tags")),
    )


@command("campaigns.get")
async def get_many(call: Call) -> dict[str, Any]:
    """The user's campaigns (deleted ones left out); 002 lists no error codes."""
    assert call.caller is not None
    total, found = await campaigns.list_campaigns(
        call.db, call.caller.user_id, campaign_query(call)
    )
    with_stats, with_tags = wanted(call, "RetrieveStatistics"), wanted(call, "RetrieveTags")
    listed = []
    for view in found:
        shown = campaign_view(view) | {"CampaignID": str(view.id)}  # as 002's example writes it
        if with_stats:
            shown |= statistics_view(await campaign_statistics(call.db, view.id))
        if with_tags:
            shown["Tags"] = view.tags
        listed.append(shown)
    return {
        "Success": True,
        "ErrorCode": 0,
        "ErrorText": "",
        "Campaigns": listed,
        "TotalCampaigns": total,
    }


# --- Campaign.Update ----------------------------------------------------------------------------

# CampaignStatus values a request may set: the other statuses come from sending,
# Campaign.Pause/Resume/Cancel and Campaign.Approve.
REQUESTABLE = {"draft": CampaignStatus.DRAFT, "ready": CampaignStatus.READY}
# What a schedule lacks, as Campaign.Update's codes 5-13.
SCHEDULE_CODES = {
    Missing.SCHEDULE_TYPE: 5,
    Missing.SEND_DATE: 6,
    Missing.SEND_TIME: 7,
    Missing.DAYS: 8,
    Missing.MONTHS: 9,
    Missing.HOURS: 10,
    Missing.MINUTES: 11,
    Missing.MAX_INSTANCES: 12,
    Missing.TIME_ZONE: 13,
}


def requested_status(text: str) -> CampaignStatus:
    """Campaign.Update's CampaignStatus: Draft or Ready (any case); 3 otherwise."""
    found = REQUESTABLE.get(str(text).strip().lower())
    if found is None:
        raise Refused(failed(3, f"Invalid campaign status: {text!r} (Draft or Ready)"))
    return found


def _schedule(call: Call) -> ScheduleInput:
    return ScheduleInput(
        schedule_type=call.get("ScheduleType"),
        send_date=call.get("SendDate"),
        send_time=call.get("SendTime"),
        time_zone=call.get("SendTimeZone"),
        days_of_week=call.get("ScheduleRecDaysOfWeek"),
        days_of_month=call.get("ScheduleRecDaysOfMonth"),
        months=call.get("ScheduleRecMonths"),
        hours=call.get("ScheduleRecHours"),
        minutes=call.get("ScheduleRecMinutes"),
        max_instances=call.get("ScheduleRecSendMaxInstance"),
    )


def _optional_flag(call: Call, name: str) -> bool | None:
    value = call.get(name)
    if value is None:
        return None
    parsed = flag(value)
    if parsed is None:
        raise Refused(failed(4, f"{name} must be Enabled or Disabled (true or false)"))
    return parsed


def _text(call: Call, name: str) -> str | None:
    """A text parameter as text (a number is its digits); a JSON object or list is 4."""
    value = call.get(name)
    if isinstance(value, dict | list):
        raise Refused(failed(4, f"{name} must be text"))
    return None if value is None else str(value)


def _items(call: Call, name: str) -> list[str] | None:
    value = call.raw(name)
    return None if value is None else split_items(value)


async def _rules(call: Call, user_id: int) -> tuple[dict[str, Any] | None, bool]:
    """(the checked RulesJsonBundle, whether it is cleared); "" clears it."""
    value = call.raw("RulesJsonBundle")
    if value is None:
        return None, False
    if isinstance(value, str) and not value.strip():
        return None, True
    try:
        return await campaigns.checked_rules(call.db, user_id, value), False
    except AudienceError as error:
        raise Refused(failed(4, f"Invalid RulesJsonBundle: {error}")) from None


async def requested_update(call: Call, user_id: int) -> CampaignUpdate:
    status = call.get("CampaignStatus")
    wanted_status = requested_status(status) if status is not None else None
    rel_email = call.get("RelEmailID")
    content: dict[str, str | None] = {
        key: (str(value) if value is not None else "")
        for param, key in CONTENT_PARAMS.items()
        if (value := call.raw(param)) is not None
    }
    await checked_addresses(call, content, 4)
    rules, clear_rules = await _rules(call, user_id)
    tags = call.raw("Tags")
    domains = call.raw("GoogleAnalyticsDomains")
    return CampaignUpdate(
        status=wanted_status,
        name=_text(call, "CampaignName"),
        email_id=_number(rel_email, -1) if rel_email is not None else None,  # -1 names none
        content=content,
        schedule=_schedule(call),
        targets=_items(call, "RecipientListsAndSegments"),
        exclude=_items(call, "Exclude_RecipientListsAndSegments"),
        rules=rules,
        clear_rules=clear_rules,
        tags=None if tags is None else split_items(tags),
        google_analytics_domains=None if domains is None else split_items(domains),
        publish_on_rss=_optional_flag(call, "PublishOnRSS"),
        s2s_enabled=_optional_flag(call, "S2SEnabled"),
        approval_explanation=_text(call, "ApprovalUserExplanation"),
    )


async def _check_email_sender(call: Call, view: CampaignView, change: CampaignUpdate) -> None:
    """The From of an email the campaign is pointed at (RelEmailID: 4), or of the email it is
    made Ready with (3), checked as a From given here is: an email saved before that check, or
    whose sender domain the account has deleted since, would fail the run."""
    if "from_email" in change.content:
        return  # checked with the content
    if change.email_id is None and change.status is not CampaignStatus.READY:
        return
    email_id = view.email_id if change.email_id is None else change.email_id
    email = await campaigns.get_email(call.db, view.user_id, email_id) if email_id else None
    if email is not None and email.from_email.strip():
        await checked_addresses(
            call, {"from_email": email.from_email}, 3 if change.email_id is None else 4
        )


@command("campaign.update")
async def update(call: Call) -> dict[str, Any]:
    """Codes 1-13 as 002 lists them (see the module's description for 3 and 4's wider use)."""
    assert call.caller is not None
    user_id = call.caller.user_id
    campaign_id = _campaign_id(call, 1, "Campaign ID is required")
    view = await campaigns.get_campaign(call.db, user_id, campaign_id)
    if view is None:
        return failed(2, "Campaign does not belong to the user")
    change = await requested_update(call, user_id)
    await _check_email_sender(call, view, change)
    try:
        done = await campaigns.update_campaign(call.db, user_id, campaign_id, change)
    except campaigns.UnknownEmail:
        return failed(4, "Email ID does not belong to the user")
    except campaigns.UnknownTarget as error:
        return failed(4, f"List or segment does not belong to the user: {error.item}")
    except (campaigns.NameRequired, campaigns.ContentTooLong) as error:
        return failed(4, f"Invalid value: {error}")
    except campaigns.ScheduleProblem as problem:
        return failed(SCHEDULE_CODES[problem.missing], problem.detail)
    except (campaigns.BadStatus, campaigns.NotSendable) as error:
        return failed(3, f"Invalid campaign status: {error}")
    if done is None:
        return failed(2, "Campaign does not belong to the user")
    return {"Success": True, "ErrorCode": 0}


# --- copy, delete, approve, pause, resume, cancel -----------------------------------------------


@command("campaign.copy")
async def copy(call: Call) -> dict[str, Any]:
    """[1]: no CampaignID, or no such campaign of the user."""
    assert call.caller is not None
    invalid = {"Success": False, "ErrorCode": [1], "ErrorText": ["Invalid source campaign"]}
    campaign_id = id_param(call, "CampaignID", invalid)
    made = await campaigns.copy_campaign(call.db, call.caller.user_id, campaign_id)
    if made is None:
        return invalid
    return {"Success": True, "ErrorCode": 0, "NewCampaignID": str(made.id)}


@command("campaigns.delete")
async def delete(call: Call) -> dict[str, Any]:
    """{"campaigns": 1}: no Campaigns, more than MAX_PAGE ids, an item that is not a campaign
    id, or one that names no campaign of the user; then nothing is deleted."""
    assert call.caller is not None
    invalid = {"Success": False, "ErrorCode": {"campaigns": 1}}
    items = split_items(call.get("Campaigns"))
    ids = [whole_number(item) for item in items]
    if not ids or len(ids) > MAX_PAGE or None in ids:
        return invalid
    wanted_ids = [i for i in ids if i is not None]
    if await campaigns.unknown_campaigns(call.db, call.caller.user_id, wanted_ids):
        return invalid
    await campaigns.delete_campaigns(call.db, call.caller.user_id, wanted_ids)
    return {"Success": True, "ErrorCode": 0, "ErrorText": ""}


@command("campaign.approve", Access.ANYONE)
async def approve(call: Call) -> Any:
    """1: no CampaignID; 2: no such campaign Pending approval that the caller may approve."""
    if await admin_key_matches(call.db, call.text("AdminAPIKey")):
        approver = None  # the gateway's administrator: any account's campaign
    elif call.caller is not None:
        approver = call.caller.user_id  # a parent account: its sub accounts' campaigns
    else:
        return failure(AUTH_FAILED, "Authentication failure or session expired")
    campaign_id = _campaign_id(call, 1, "Missing required parameter: CampaignID")
    try:
        done = await campaigns.approve(call.db, campaign_id, approver_parent=approver)
    except campaigns.NotSendable as error:
        return failed(2, f"Campaign cannot be approved: {error}")
    if done is None:
        return failed(2, "Campaign not found")
    return {"Success": True, "ErrorCode": 0}


_STATE_ERRORS = {
    "pause": "Campaign is not in a 'Sending' state",
    "resume": "Campaign is not in a 'Paused' state",
}


async def _act(call: Call, action: str) -> dict[str, Any]:
    assert call.caller is not None
    campaign_id = _campaign_id(call, 1, "Missing required parameter: CampaignID")
    operation = {"pause": campaigns.pause, "resume": campaigns.resume}[action]
    outcome = await operation(call.db, call.caller.user_id, campaign_id)
    if outcome is StatusChange.NOT_FOUND:
        return failed(2, "Campaign does not belong to the user")
    if outcome is StatusChange.WRONG_STATE:
        return failed(3, _STATE_ERRORS[action])
    return {"Success": True, "ErrorCode": 0}


@command("campaign.pause")
async def pause(call: Call) -> dict[str, Any]:
    """1: no CampaignID; 2: not the user's; 3: not Sending."""
    return await _act(call, "pause")


@command("campaign.resume")
async def resume(call: Call) -> dict[str, Any]:
    """1: no CampaignID; 2: not the user's; 3: not Paused."""
    return await _act(call, "resume")


@command("campaign.cancel")
async def cancel(call: Call) -> dict[str, Any]:
    """1: no CampaignID; 2: not the user's, or over (Sent, Failed)."""
    assert call.caller is not None
    campaign_id = _campaign_id(call, 1, "Missing required field: CampaignID")
    outcome = await campaigns.cancel(call.db, call.caller.user_id, campaign_id)
    if outcome is StatusChange.NOT_FOUND:
        return failed(2, "Campaign does not belong to the user or does not exist")
    if outcome is StatusChange.WRONG_STATE:
        return failed(2, "Campaign is over (Sent or Failed): there is nothing to cancel")
    return {"Success": True, "ErrorCode": 0}
