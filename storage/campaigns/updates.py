"""Changing a campaign (002's Campaign.Update, /rest's edit and send) and approving it, in one
transaction that locks the row: name, content, audience, schedule and status together, every
value checked first, nothing changed when one is refused.

The status an update leads to is storage.campaigns.rules' (update_step, ready_state): Ready
checks that the campaign can be sent, then it is Pending approval when the account requires
approval, else Ready and due now (Immediate), or Scheduled (Future: SendDate + SendTime in
SendTimeZone; Recursive: its first recurrence after now). A Ready or Scheduled campaign whose
content, audience or schedule changes is checked and scheduled again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from storage.campaigns import rules as rules
from storage.campaigns.emails import checked_content, email_in, insert_email
from storage.campaigns.rows import (
    NAME_LIMIT,
    CampaignView,
    NameRequired,
    campaign_in,
    empty_audience,
)
from storage.campaigns.schedule import ScheduleError, next_recurrence
from storage.campaigns.schedule_input import ScheduleInput, resolved_schedule
from storage.campaigns.targets import targets_in
from storage.engine import Database
from storage.models import Campaign, CampaignEmail, CampaignStatus, ScheduleType, User, utcnow

TAG_LIMIT = 64


@dataclass(frozen=True)
class CampaignUpdate:
    """Campaign.Update's changes; None leaves a value as it is."""

    status: CampaignStatus | None = None
    name: str | None = None
    email_id: int | None = None
    content: dict[str, str | None] = field(default_factory=dict)
    schedule: ScheduleInput = field(default_factory=ScheduleInput)
    targets: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    rules: dict[str, Any] | None = None
    clear_rules: bool = False
    tags: Sequence[str] | None = None
    google_analytics_domains: Sequence[str] | None = None
    publish_on_rss: bool | None = None
    s2s_enabled: bool | None = None
    approval_explanation: str | None = None
    resign_link: str | None = None  # "" removes it

    def touches_sending(self) -> bool:
        """Whether the change alters what is sent, to whom or when."""
        return bool(
            self.email_id is not None
            or self.content
            or self.schedule.given()
            or self.targets is not None
            or self.exclude is not None
            or self.rules is not None
            or self.clear_rules
        )


class UnknownEmail(ValueError):
    """RelEmailID names no email of the owner."""


def _requires_approval(conn: Connection, user_id: int) -> bool:
    statement = select(User.requires_campaign_approval).where(User.id == user_id)
    return bool(conn.execute(statement).scalar())


def _first_run(view: CampaignView, now: datetime) -> datetime:
    if view.schedule_type is ScheduleType.FUTURE and view.send_at is not None:
        return view.send_at
    if view.schedule_type is ScheduleType.RECURSIVE:
        try:
            first = next_recurrence(view.recurrence, view.time_zone, now, view.instances)
        except ScheduleError as error:
            raise rules.NotSendable(str(error)) from None
        if first is None:
            raise rules.NotSendable(
                "the recurrence has no instant left (maximum reached, or never)"
            )
        return first
    return now


def _ready_values(
    conn: Connection, view: CampaignView, now: datetime, approval_needed: bool
) -> dict[str, Any]:
    """The status and next run of a campaign made Ready (or approved); NotSendable when it
    cannot be sent."""
    email = email_in(conn, view.user_id, view.email_id) if view.email_id else None
    problem = rules.sendable_problem(view, email)
    if problem is not None:
        raise rules.NotSendable(problem)
    first = _first_run(view, now)
    state = rules.ready_state(view.schedule_type, approval_needed)
    values: dict[str, Any] = {"status": state.status, "next_run_at": first if state.runs else None}
    if state.schedule_type is not None:
        values["schedule_type"] = state.schedule_type
    return values


def _status_values(
    conn: Connection, before: CampaignView, after: CampaignView, wanted: CampaignStatus | None,
    changed_sending: bool, now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The status and next run after an update (the step is rules.update_step's)."""
    step = rules.update_step(before.status, wanted, changed_sending)
    if step is rules.UpdateStep.KEEP:
        return {}
    if step is rules.UpdateStep.TO_DRAFT:
        return {"status": CampaignStatus.DRAFT, "next_run_at": None}
    approval = step is rules.UpdateStep.READY and _requires_approval(conn, before.user_id)
    return _ready_values(conn, after, now, approval)


def _audience_after(conn: Connection, view: CampaignView, change: CampaignUpdate) -> dict[str, Any]:
    audience = {**empty_audience(), **(view.audience or {})}
    if change.targets is not None:
        audience["lists"] = targets_in(conn, view.user_id, change.targets)
    if change.exclude is not None:
        audience["exclude"] = targets_in(conn, view.user_id, change.exclude)
    if change.clear_rules:
        audience["rules"] = None
    if change.rules is not None:
        audience["rules"] = change.rules
    return audience


def _content_written(
    conn: Connection, view: CampaignView, email_id: int | None, content: dict[str, Any]
) -> int | None:
    """Write content into the email the campaign points at (made when it has none)."""
    if not content:
        return email_id
    if email_id is None:
        return insert_email(conn, view.user_id, {"name": view.name, **content})
    conn.execute(
        update(CampaignEmail)
        .where(CampaignEmail.id == email_id, CampaignEmail.user_id == view.user_id)
        .values(**content, updated_at=utcnow())
    )
    return email_id


def _plain_values(change: CampaignUpdate) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if change.name is not None:
        name = change.name.strip()
        if not name or len(name) > NAME_LIMIT:
            raise NameRequired(change.name)
        values["name"] = name
    for key in ("google_analytics_domains", "publish_on_rss", "s2s_enabled"):
        value = getattr(change, key)
        if value is not None:
            values[key] = list(value) if isinstance(value, (list, tuple)) else value
    if change.tags is not None:
        values["tags"] = checked_tags(change.tags)
    if change.approval_explanation is not None:
        values["approval_explanation"] = change.approval_explanation
    if change.resign_link is not None:
        values["resign_link"] = change.resign_link[:2048] or None
    return values


def checked_tags(tags: Sequence[str]) -> list[str]:
    """Tags as stored: trimmed, each once (first spelling kept, compared without case), at most
    64 characters each."""
    kept: dict[str, str] = {}
    for tag in tags:
        cleaned = str(tag).strip()[:TAG_LIMIT]
        if cleaned:
            kept.setdefault(cleaned.lower(), cleaned)
    return list(kept.values())


async def update_campaign(
    db: Database,
    user_id: int,
    campaign_id: int,
    change: CampaignUpdate,
    now: datetime | None = None,
) -> CampaignView | None:
    """Apply Campaign.Update's changes in one transaction; None when the owner has no such
    campaign. Raises UnknownEmail, UnknownTarget, ScheduleProblem, NameRequired,
    ContentTooLong, BadStatus or NotSendable, and then nothing is changed."""
    moment = now or utcnow()
    content = checked_content(change.content)
    plain = _plain_values(change)

    def work(conn: Connection) -> CampaignView | None:
        before = campaign_in(conn, user_id, campaign_id, locked=True)
        if before is None:
            return None
        email_id = before.email_id
        if change.email_id is not None:
            if email_in(conn, user_id, change.email_id) is None:
                raise UnknownEmail(change.email_id)
            email_id = change.email_id
        values: dict[str, Any] = dict(plain)
        if change.schedule.given():
            schedule = resolved_schedule(before, change.schedule)
            values |= {
                "schedule_type": schedule.schedule_type,
                "send_at": schedule.send_at,
                "time_zone": schedule.time_zone,
                "recurrence": schedule.recurrence,
            }
        values["audience"] = _audience_after(conn, before, change)
        values["email_id"] = _content_written(conn, before, email_id, content)
        after = replace(before, **values)
        values |= _status_values(
            conn, before, after, change.status, change.touches_sending(), moment
        )
        conn.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(**values, updated_at=moment)
        )
        return campaign_in(conn, user_id, campaign_id)

    return await db.write(work)


async def approve(
    db: Database, campaign_id: int, approver_parent: int | None = None, now: datetime | None = None
) -> CampaignView | None:
    """Approve a campaign that is Pending approval: Ready (Immediate) or Scheduled (Future,
    Recursive). `approver_parent`: only a campaign of this account's sub accounts (None: any
    campaign, the gateway's administrator). None when there is no such campaign waiting;
    NotSendable when it can no longer be sent as it is."""
    moment = now or utcnow()

    def work(conn: Connection) -> CampaignView | None:
        owner = select(Campaign.user_id).where(
            Campaign.id == campaign_id, Campaign.deleted_at.is_(None)
        )
        if approver_parent is not None:
            children = select(User.id).where(User.parent_user_id == approver_parent)
            owner = owner.where(Campaign.user_id.in_(children))
        user_id = conn.execute(owner).scalar()
        found = campaign_in(conn, user_id, campaign_id, True) if user_id is not None else None
        if found is None or not rules.allowed(rules.Transition.APPROVE, found.status):
            return None
        values = _ready_values(conn, found, moment, approval_needed=False)
        conn.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.PENDING_APPROVAL)
            .values(**values, updated_at=moment)
        )
        return campaign_in(conn, found.user_id, campaign_id)

    return await db.write(work)
