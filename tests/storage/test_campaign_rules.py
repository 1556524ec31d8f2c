"""The campaign lifecycle's pure rules as tables: from which statuses each transition may be
made, the status step an update takes, where a campaign made Ready goes, and what makes a
campaign sendable. In process, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from storage.campaigns import CampaignView, EmailView
from storage.campaigns.rules import (
    BadStatus,
    ReadyState,
    Transition,
    UpdateStep,
    allowed,
    ready_state,
    sendable_problem,
    update_step,
)
from storage.models import CampaignStatus, ScheduleType

S = CampaignStatus
T = Transition
# Each transition and the statuses it may be made from, written out (every other status
# refuses it).
ALLOWED = {
    T.MAKE_READY: {S.DRAFT, S.READY, S.SCHEDULED, S.PENDING_APPROVAL, S.FAILED},
    T.TO_DRAFT: {S.DRAFT, S.READY, S.SCHEDULED, S.PENDING_APPROVAL, S.FAILED},
    T.APPROVE: {S.PENDING_APPROVAL},
    T.START: {S.READY, S.SCHEDULED},
    T.PAUSE: {S.SENDING},
    T.RESUME: {S.PAUSED},
    T.CANCEL: {S.DRAFT, S.READY, S.SCHEDULED, S.PENDING_APPROVAL, S.SENDING, S.PAUSED},
    T.SEND_ON_REST: {S.DRAFT, S.FAILED},
}


def test_the_table_names_every_transition() -> None:
    assert set(ALLOWED) == set(Transition)


@pytest.mark.parametrize("transition", list(Transition))
@pytest.mark.parametrize("status", list(CampaignStatus))
def test_transitions(transition: Transition, status: CampaignStatus) -> None:
    assert allowed(transition, status) is (status in ALLOWED[transition])


NO, YES = False, True


@pytest.mark.parametrize(
    ("before", "wanted", "changes_sending", "step"),
    [
        (S.DRAFT, None, NO, UpdateStep.KEEP),
        (S.DRAFT, None, YES, UpdateStep.KEEP),  # a Draft stays Draft whatever changes
        (S.FAILED, None, YES, UpdateStep.KEEP),
        (S.SENDING, None, YES, UpdateStep.KEEP),
        (S.READY, None, NO, UpdateStep.KEEP),  # a name or tags: nothing to check again
        (S.READY, None, YES, UpdateStep.READY),  # content, audience or schedule: again
        (S.SCHEDULED, None, YES, UpdateStep.READY),
        (S.PENDING_APPROVAL, None, YES, UpdateStep.READY),
        (S.DRAFT, S.READY, NO, UpdateStep.READY),
        (S.FAILED, S.READY, YES, UpdateStep.READY),
        (S.PENDING_APPROVAL, S.READY, NO, UpdateStep.READY),  # still waits for approval
        (S.READY, S.READY, NO, UpdateStep.READY_APPROVED),  # approved, nothing sent changed
        (S.SCHEDULED, S.READY, NO, UpdateStep.READY_APPROVED),
        (S.SCHEDULED, S.READY, YES, UpdateStep.READY),
        (S.READY, S.DRAFT, NO, UpdateStep.TO_DRAFT),
        (S.PENDING_APPROVAL, S.DRAFT, YES, UpdateStep.TO_DRAFT),
        (S.FAILED, S.DRAFT, NO, UpdateStep.TO_DRAFT),
    ],
)
def test_update_steps(
    before: CampaignStatus, wanted: CampaignStatus | None, changes_sending: bool, step: UpdateStep
) -> None:
    assert update_step(before, wanted, changes_sending) is step


@pytest.mark.parametrize("before", [S.SENDING, S.PAUSED, S.SENT, S.CANCELED])
@pytest.mark.parametrize("wanted", [S.READY, S.DRAFT])
def test_update_steps_that_are_refused(before: CampaignStatus, wanted: CampaignStatus) -> None:
    with pytest.raises(BadStatus):
        update_step(before, wanted, False)


@pytest.mark.parametrize(
    ("schedule_type", "approval_needed", "state"),
    [
        (ScheduleType.IMMEDIATE, NO, ReadyState(S.READY, ScheduleType.IMMEDIATE)),
        (ScheduleType.NOT_SCHEDULED, NO, ReadyState(S.READY, ScheduleType.IMMEDIATE)),
        (ScheduleType.FUTURE, NO, ReadyState(S.SCHEDULED)),
        (ScheduleType.RECURSIVE, NO, ReadyState(S.SCHEDULED)),
        (ScheduleType.IMMEDIATE, YES, ReadyState(S.PENDING_APPROVAL, runs=False)),
        (ScheduleType.FUTURE, YES, ReadyState(S.PENDING_APPROVAL, runs=False)),
    ],
)
def test_ready_states(
    schedule_type: ScheduleType, approval_needed: bool, state: ReadyState
) -> None:
    assert ready_state(schedule_type, approval_needed) == state


NOW = datetime(2025, 3, 1, tzinfo=UTC)
EMAIL = EmailView(
    id=1, user_id=1, name="E", subject="Hello", from_name="", from_email="news@shop.test",
    reply_to_name="", reply_to_email="", html="<p>Hi</p>", text="", content_url=None,
    created_at=NOW, updated_at=None,
)  # fmt: skip
CAMPAIGN = CampaignView(
    id=1, user_id=1, hash="abcdefghij", name="C", status=S.DRAFT, email_id=1,
    audience={"lists": [{"list_id": 1, "segment_id": None}], "exclude": [], "rules": None},
    schedule_type=ScheduleType.NOT_SCHEDULED, send_at=None, time_zone="UTC", recurrence={},
    next_run_at=None, instances=0, tags=[], google_analytics_domains=[], publish_on_rss=False,
    s2s_enabled=False, approval_explanation="", resign_link=None, last_error=None,
    created_at=NOW, updated_at=None, sent_at=None, finished_at=None,
)  # fmt: skip
RULES = {"lists": [], "exclude": [], "rules": {"list_id": 1}}


@pytest.mark.parametrize(
    ("email", "audience", "problem"),
    [
        ({}, None, None),
        ({"html": "", "text": "plain"}, None, None),
        ({"html": " ", "content_url": "https://shop.test/page"}, None, None),
        ({}, RULES, None),  # a rules bundle is an audience too
        (None, None, "the campaign has no email"),
        ({"subject": "  "}, None, "the email has no subject"),
        ({"html": " ", "text": ""}, None, "the email has no content"),
        ({"from_email": " "}, None, "the email has no From address"),
        ({}, {"lists": [], "exclude": [], "rules": None}, "the campaign has no recipients"),
        ({}, {}, "the campaign has no recipients"),
    ],
)
def test_sendable(
    email: dict[str, Any] | None, audience: dict[str, Any] | None, problem: str | None
) -> None:
    view = CAMPAIGN if audience is None else replace(CAMPAIGN, audience=audience)
    found = sendable_problem(view, None if email is None else replace(EMAIL, **email))
    assert (found is None) if problem is None else (found or "").startswith(problem)
