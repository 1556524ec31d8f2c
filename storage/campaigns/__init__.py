"""Campaigns and their emails (002's `Campaign.*`, `Campaigns.*` and `Email.*`, /rest's
campaigns), for every surface alike. Every lookup is scoped to the owner, and a deleted campaign
is found by nobody (it stays in the table for its reports and events). A campaign's content is
a CampaignEmail: each campaign gets its own at creation; `RelEmailID` points it at another of
the owner's emails, and content changes write whichever email it points at.

The modules, by what they hold: `emails`, `rows` (campaign rows, lookups, creation,
copies), `targets` (the audience's lists, segments and rules), `schedule_input` (a requested
schedule checked and merged), `updates` (Campaign.Update and approval, in one locked
transaction), `controls` (pause, resume, cancel, delete), `listing`. The status transition
table and the readiness check are storage.campaigns.rules (pure). This package names the
operations the surfaces use.
"""

from storage.campaigns.controls import (
    StatusChange,
    cancel,
    delete_campaigns,
    pause,
    resume,
    unknown_campaigns,
)
from storage.campaigns.emails import (
    EMAIL_FIELDS,
    ContentTooLong,
    EmailInUse,
    EmailView,
    checked_content,
    create_email,
    delete_email,
    get_email,
    update_email,
)
from storage.campaigns.listing import ORDER_FIELDS, CampaignQuery, list_campaigns
from storage.campaigns.rows import (
    NAME_LIMIT,
    CampaignView,
    NameRequired,
    copy_campaign,
    create_campaign,
    get_campaign,
    get_campaign_by_hash,
)
from storage.campaigns.rules import BadStatus, NotSendable, sendable_problem
from storage.campaigns.schedule_input import (
    Missing,
    Schedule,
    ScheduleInput,
    ScheduleProblem,
    resolved_schedule,
    schedule_type_of,
)
from storage.campaigns.targets import (
    UnknownTarget,
    checked_rules,
    resolve_targets,
    targets_in,
)
from storage.campaigns.updates import (
    TAG_LIMIT,
    CampaignUpdate,
    UnknownEmail,
    approve,
    checked_tags,
    update_campaign,
)

__all__ = [
    "EMAIL_FIELDS",
    "NAME_LIMIT",
    "ORDER_FIELDS",
    "TAG_LIMIT",
    "BadStatus",
    "CampaignQuery",
    "CampaignUpdate",
    "CampaignView",
    "ContentTooLong",
    "EmailInUse",
    "EmailView",
    "Missing",
    "NameRequired",
    "NotSendable",
    "Schedule",
    "ScheduleInput",
    "ScheduleProblem",
    "StatusChange",
    "UnknownEmail",
    "UnknownTarget",
    "approve",
    "cancel",
    "checked_content",
    "checked_rules",
    "checked_tags",
    "copy_campaign",
    "create_campaign",
    "create_email",
    "delete_campaigns",
    "delete_email",
    "get_campaign",
    "get_campaign_by_hash",
    "get_email",
    "list_campaigns",
    "pause",
    "resolve_targets",
    "resolved_schedule",
    "resume",
    "schedule_type_of",
    "sendable_problem",
    "targets_in",
    "unknown_campaigns",
    "update_campaign",
    "update_email",
]
