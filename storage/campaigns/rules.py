"""The campaign lifecycle as rules over data: from which statuses each change may be made, what
makes a campaign sendable, and the status it takes when made Ready or approved. Pure (no I/O,
no SQL), so that /api.php, /rest, the scheduler and storage's transactions ask one table, and
the tests read as tables.

It sits in storage beside the status enum it speaks of because storage applies it inside the
transaction that locks the campaign row, and storage imports nothing above it. Whether the From
address may send is the one rule that needs the sender domains: mta.campaigns.message.
from_problem, which both surfaces call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.models import CampaignStatus, ScheduleType

if TYPE_CHECKING:
    from storage.campaigns.emails import EmailView
    from storage.campaigns.rows import CampaignView

DRAFT, READY, PENDING = CampaignStatus.DRAFT, CampaignStatus.READY, CampaignStatus.PENDING_APPROVAL
SCHEDULED, SENDING, PAUSED = CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED
SENT, FAILED, CANCELED = CampaignStatus.SENT, CampaignStatus.FAILED, CampaignStatus.CANCELED

NOT_STARTED = (DRAFT, READY, SCHEDULED, PENDING)
RUNNING = (SENDING, PAUSED)  # a run queues or holds recipients: cancel it before deleting
EDITABLE = (*NOT_STARTED, FAILED)  # what is sent, to whom and when may still change


class Transition(enum.Enum):
    """A change of status someone asks for (or the scheduler makes)."""

    MAKE_READY = "make ready"  # Campaign.Update's Ready, /rest's send
    TO_DRAFT = "back to draft"  # Campaign.Update's Draft
    APPROVE = "approve"  # Campaign.Approve
    START = "start"  # the scheduler starts a due run
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    SEND_ON_REST = "send on /rest"  # 003's send: only what nobody has asked to send yet


# The statuses each transition may be made from; any other status refuses it.
ALLOWED_FROM: dict[Transition, tuple[CampaignStatus, ...]] = {
    Transition.MAKE_READY: EDITABLE,
    Transition.TO_DRAFT: EDITABLE,
    Transition.APPROVE: (PENDING,),
    Transition.START: (READY, SCHEDULED),
    Transition.PAUSE: (SENDING,),
    Transition.RESUME: (PAUSED,),
    Transition.CANCEL: (*NOT_STARTED, *RUNNING),  # Canceled again is done already
    Transition.SEND_ON_REST: (DRAFT, FAILED),
}


def allowed(transition: Transition, status: CampaignStatus) -> bool:
    return status in ALLOWED_FROM[transition]


class NotSendable(ValueError):
    """A campaign that cannot be made Ready: no content, no sender, no audience, or a schedule
    that never fires."""


class BadStatus(ValueError):
    """A status change the campaign cannot make from where it is (or a status no request sets)."""


def sendable_problem(view: CampaignView, email: EmailView | None) -> str | None:
    """Why the campaign cannot be sent as it is, or None (the From's domain aside:
    mta.campaigns.message.from_problem)."""
    if email is None:
        return "the campaign has no email"
    if not email.subject.strip():
        return "the email has no subject"
    if not (email.html.strip() or email.text.strip() or email.content_url):
        return "the email has no content (HTMLContent, PlainContent or FetchURL)"
    if not email.from_email.strip():
        return "the email has no From address (FromEmail)"
    audience = view.audience or {}
    if not (audience.get("rules") or audience.get("lists")):
        return "the campaign has no recipients (RecipientListsAndSegments or RulesJsonBundle)"
    return None


@dataclass(frozen=True)
class ReadyState:
    """Where a campaign made Ready (or approved) goes: `schedule_type` set when it changes,
    `runs` whether its next run is set (not while it waits for approval)."""

    status: CampaignStatus
    schedule_type: ScheduleType | None = None
    runs: bool = True


def ready_state(schedule_type: ScheduleType, approval_needed: bool) -> ReadyState:
    """Pending approval when the account requires it; else Immediate (or no schedule) is Ready
    and due now, Future and Recursive are Scheduled."""
    if approval_needed:
        return ReadyState(PENDING, runs=False)
    if schedule_type in (ScheduleType.IMMEDIATE, ScheduleType.NOT_SCHEDULED):
        return ReadyState(READY, ScheduleType.IMMEDIATE)
    return ReadyState(SCHEDULED)


class UpdateStep(enum.Enum):
    """What an update does to a campaign's status."""

    KEEP = "keep"  # no status change
    TO_DRAFT = "to draft"
    READY = "ready"  # checked and scheduled; approval asked for when the account requires it
    READY_APPROVED = "ready, approval kept"  # made Ready again with nothing sent changed


def update_step(
    before: CampaignStatus, wanted: CampaignStatus | None, changes_sending: bool
) -> UpdateStep:
    """The step an update takes; BadStatus when the wanted status cannot be reached from
    `before`. A Ready, Scheduled or Pending campaign whose content, audience or schedule
    changes is checked and scheduled again (and waits for approval again)."""
    if wanted is DRAFT:
        if not allowed(Transition.TO_DRAFT, before):
            raise BadStatus(f"a campaign that is {before} cannot go back to Draft")
        return UpdateStep.TO_DRAFT
    if wanted is READY:
        if not allowed(Transition.MAKE_READY, before):
            raise BadStatus(f"a campaign that is {before} cannot be made Ready")
        kept = before in (READY, SCHEDULED) and not changes_sending
        return UpdateStep.READY_APPROVED if kept else UpdateStep.READY
    if changes_sending and before in (READY, SCHEDULED, PENDING):
        return UpdateStep.READY
    return UpdateStep.KEEP
