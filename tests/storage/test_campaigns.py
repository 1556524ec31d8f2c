"""Campaigns in storage, on SQLite and PostgreSQL: owner scoping, updates and their schedule
rules, status changes (Ready, Draft, approval), copies, soft deletion, cancel, listing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from storage import campaigns, segments
from storage.accounts import create_user
from storage.campaigns import (
    BadStatus,
    CampaignQuery,
    CampaignUpdate,
    EmailInUse,
    Missing,
    NameRequired,
    NotSendable,
    ScheduleInput,
    ScheduleProblem,
    StatusChange,
    UnknownEmail,
    UnknownTarget,
)
from storage.campaigns.audience import AudienceError
from storage.engine import Database
from storage.models import Campaign, CampaignStatus, ScheduleType, Segment, User
from tests.storage.support import insert_list

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
CONTENT = {
    "subject": "Hello $$first_name$$",
    "html": "<p>Hi</p>",
    "from_email": "news@shop.test",
}


async def users(db: Database) -> tuple[int, int]:
    owner = (await create_user(db, "owner@campaigns.test")).user_id
    other = (await create_user(db, "other@campaigns.test")).user_id
    return owner, other


async def audience(db: Database, owner: int) -> tuple[int, int, str]:
    """A list of the owner with a segment: (list id, segment id, list hash)."""

    def work(conn: Connection) -> tuple[int, int]:
        list_id = insert_list(conn, owner, "listhash01")
        segment = insert(Segment).values(
            user_id=owner, list_id=list_id, hash="seghash001", name="S", rules={}
        )
        return list_id, int(conn.execute(segment.returning(Segment.id)).scalar_one())

    list_id, segment_id = await db.write(work)
    return list_id, segment_id, "listhash01"


async def test_create_get_and_owner_scoping(db: Database) -> None:
    owner, other = await users(db)
    made = await campaigns.create_campaign(db, owner, "  Summer  ")
    assert (made.name, made.status, made.schedule_type) == (
        "Summer",
        CampaignStatus.DRAFT,
        ScheduleType.NOT_SCHEDULED,
    )
    assert len(made.hash) == 10 and made.email_id is not None
    assert made.audience == {"lists": [], "exclude": [], "rules": None}
    assert await campaigns.get_campaign(db, owner, made.id) == made
    assert await campaigns.get_campaign_by_hash(db, owner, made.hash) == made
    assert await campaigns.get_campaign(db, other, made.id) is None
    assert await campaigns.get_campaign_by_hash(db, other, made.hash) is None
    assert await campaigns.get_email(db, owner, made.email_id) is not None
    assert await campaigns.get_email(db, other, made.email_id) is None
    for wrong in ("", "   ", "x" * 256):
        with pytest.raises(NameRequired):
            await campaigns.create_campaign(db, owner, wrong)


async def test_update_content_audience_and_settings(db: Database) -> None:
    owner, other = await users(db)
    list_id, segment_id, list_hash = await audience(db, owner)
    made = await campaigns.create_campaign(db, owner, "C")
    change = CampaignUpdate(
        name="Renamed",
        content=CONTENT,
        targets=[str(list_id), f"{list_id}:{segment_id}", list_hash, "seghash001"],
        exclude=[f"{list_id}:0"],
        tags=["Summer", " sale ", "SUMMER", ""],
        google_analytics_domains=["shop.test"],
        publish_on_rss=True,
        s2s_enabled=True,
        approval_explanation="please",
    )
    updated = await campaigns.update_campaign(db, owner, made.id, change, NOW)
    assert updated is not None
    assert updated.name == "Renamed" and updated.status is CampaignStatus.DRAFT
    assert updated.audience == {
        "lists": [
            {"list_id": list_id, "segment_id": None},
            {"list_id": list_id, "segment_id": segment_id},
        ],
        "exclude": [{"list_id": list_id, "segment_id": None}],
        "rules": None,
    }
    assert updated.tags == ["Summer", "sale"]
    assert (updated.publish_on_rss, updated.s2s_enabled) == (True, True)
    assert updated.approval_explanation == "please"
    email = await campaigns.get_email(db, owner, made.email_id or 0)
    assert email is not None and email.subject == CONTENT["subject"]
    assert await campaigns.update_campaign(db, other, made.id, change, NOW) is None

    for targets in (["999999"], [f"{list_id}:999"], ["nosuchhash"], ["1:2:3"]):
        with pytest.raises(UnknownTarget):
            await campaigns.update_campaign(db, owner, made.id, CampaignUpdate(targets=targets))
    others_list, _, _ = await audience_of_other(db, other)
    with pytest.raises(UnknownTarget):
        await campaigns.update_campaign(
            db, owner, made.id, CampaignUpdate(targets=[str(others_list)])
        )
    others_email = await campaigns.create_email(db, other, {"subject": "x"})
    with pytest.raises(UnknownEmail):
        await campaigns.update_campaign(
            db, owner, made.id, CampaignUpdate(email_id=others_email.id)
        )
    mine = await campaigns.create_email(db, owner, {"subject": "Mine"})
    pointed = await campaigns.update_campaign(db, owner, made.id, CampaignUpdate(email_id=mine.id))
    assert pointed is not None and pointed.email_id == mine.id
    rules = {"operator": "or", "criteria": []}
    ruled = await campaigns.update_campaign(db, owner, made.id, CampaignUpdate(rules=rules))
    assert ruled is not None and ruled.audience["rules"] == rules
    cleared = await campaigns.update_campaign(db, owner, made.id, CampaignUpdate(clear_rules=True))
    assert cleared is not None and cleared.audience["rules"] is None


async def audience_of_other(db: Database, other: int) -> tuple[int, int, str]:
    list_id = await db.write(lambda conn: insert_list(conn, other, "otherlist1"))
    return list_id, 0, "otherlist1"


async def sendable(db: Database, owner: int, name: str = "C") -> int:
    list_id, _, _ = await audience(db, owner) if name == "C" else (None, None, None)
    made = await campaigns.create_campaign(db, owner, name)
    targets = [str(list_id)] if list_id else ["listhash01"]
    await campaigns.update_campaign(
        db, owner, made.id, CampaignUpdate(content=CONTENT, targets=targets)
    )
    return made.id


async def test_ready_by_schedule(db: Database) -> None:
    owner, _ = await users(db)
    campaign_id = await sendable(db, owner)
    ready = await campaigns.update_campaign(
        db, owner, campaign_id, CampaignUpdate(status=CampaignStatus.READY), NOW
    )
    assert ready is not None
    assert (ready.status, ready.schedule_type, ready.next_run_at) == (
        CampaignStatus.READY,
        ScheduleType.IMMEDIATE,
        NOW,
    )
    future = ScheduleInput("Future", "2025-03-30", "02:30", "Europe/Warsaw")
    scheduled = await campaigns.update_campaign(
        db, owner, campaign_id, CampaignUpdate(schedule=future), NOW
    )
    assert scheduled is not None and scheduled.status is CampaignStatus.SCHEDULED
    assert scheduled.next_run_at == scheduled.send_at == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert scheduled.local_send() == ("2025-03-30", "03:30:00")  # the gap moved it forward
    # a new send time alone keeps the stored date and zone
    later = await campaigns.update_campaign(
        db, owner, campaign_id, CampaignUpdate(schedule=ScheduleInput(send_time="18:00")), NOW
    )
    assert later is not None and later.next_run_at == datetime(2025, 3, 30, 16, tzinfo=UTC)
    weekly = ScheduleInput(
        "Recursive", None, None, "America/New_York", "Mon", "", "*", "9", "0", "3"
    )
    recurring = await campaigns.update_campaign(
        db, owner, campaign_id, CampaignUpdate(schedule=weekly), NOW
    )
    assert recurring is not None and recurring.status is CampaignStatus.SCHEDULED
    assert recurring.recurrence == {
        "days_of_week": [1],
        "days_of_month": None,
        "months": "*",
        "hours": [9],
        "minutes": [0],
        "max_instances": 3,
    }
    assert recurring.send_at is None
    assert recurring.next_run_at == datetime(2025, 3, 3, 14, tzinfo=UTC)  # Monday, EST
    draft = await campaigns.update_campaign(
        db, owner, campaign_id, CampaignUpdate(status=CampaignStatus.DRAFT), NOW
    )
    assert draft is not None and (draft.status, draft.next_run_at) == (CampaignStatus.DRAFT, None)


@pytest.mark.parametrize(
    ("schedule", "missing"),
    [
        (ScheduleInput("Sometimes"), Missing.SCHEDULE_TYPE),
        (ScheduleInput("Future", None, "10:00", "UTC"), Missing.SEND_DATE),
        (ScheduleInput("Future", "2025-02-30", "10:00", "UTC"), Missing.SEND_DATE),
        (ScheduleInput("Future", "2025-04-01", None, "UTC"), Missing.SEND_TIME),
        (ScheduleInput("Future", "2025-04-01", "25:00", "UTC"), Missing.SEND_TIME),
        (ScheduleInput("Future", "2025-04-01", "10:00"), Missing.TIME_ZONE),
        (ScheduleInput("Future", "2025-04-01", "10:00", "Mars/Base"), Missing.TIME_ZONE),
        (ScheduleInput("Recursive", time_zone="UTC", months="*", hours="1", minutes="0",
                       max_instances="0"), Missing.DAYS),
        (ScheduleInput("Recursive", time_zone="UTC", days_of_week="9", months="*", hours="1",
                       minutes="0", max_instances="0"), Missing.DAYS),
        (ScheduleInput("Recursive", time_zone="UTC", days_of_month="1", hours="1", minutes="0",
                       max_instances="0"), Missing.MONTHS),
        (ScheduleInput("Recursive", time_zone="UTC", days_of_month="1", months="*",
                       minutes="0", max_instances="0"), Missing.HOURS),
        (ScheduleInput("Recursive", time_zone="UTC", days_of_month="1", months="*", hours="1",
                       max_instances="0"), Missing.MINUTES),
        (ScheduleInput("Recursive", time_zone="UTC", days_of_month="1", months="*", hours="1",
                       minutes="0"), Missing.MAX_INSTANCES),
        (ScheduleInput("Recursive", time_zone="UTC", days_of_month="1", months="*", hours="1",
                       minutes="0", max_instances="-1"), Missing.MAX_INSTANCES),
        (ScheduleInput("Recursive", days_of_month="1", months="*", hours="1", minutes="0",
                       max_instances="0"), Missing.TIME_ZONE),
    ],
)  # fmt: skip
async def test_schedule_problems(db: Database, schedule: ScheduleInput, missing: Missing) -> None:
    owner, _ = await users(db)
    made = await campaigns.create_campaign(db, owner, "C")
    with pytest.raises(ScheduleProblem) as raised:
        await campaigns.update_campaign(db, owner, made.id, CampaignUpdate(schedule=schedule))
    assert raised.value.missing is missing
    assert await campaigns.get_campaign(db, owner, made.id) == made  # nothing changed


async def test_ready_needs_a_sendable_campaign(db: Database) -> None:
    owner, _ = await users(db)
    await audience(db, owner)
    made = await campaigns.create_campaign(db, owner, "C")
    ready = CampaignUpdate(status=CampaignStatus.READY)
    steps = [
        CampaignUpdate(content={"subject": "S"}),
        CampaignUpdate(content={"text": "body"}),
        CampaignUpdate(content={"from_email": "a@shop.test"}),
        CampaignUpdate(targets=["listhash01"]),
    ]
    for step in steps:
        with pytest.raises(NotSendable):
            await campaigns.update_campaign(db, owner, made.id, ready)
        await campaigns.update_campaign(db, owner, made.id, step)
    done = await campaigns.update_campaign(db, owner, made.id, ready)
    assert done is not None and done.status is CampaignStatus.READY
    with pytest.raises(NotSendable):  # a Ready campaign stays sendable
        await campaigns.update_campaign(db, owner, made.id, CampaignUpdate(content={"subject": ""}))
    never = ScheduleInput(
        "Recursive", None, None, "UTC", None, "30", "2", "9", "0", "0"
    )  # 30 February
    with pytest.raises(NotSendable):
        await campaigns.update_campaign(db, owner, made.id, CampaignUpdate(schedule=never))


async def test_approval(db: Database) -> None:
    owner, _ = await users(db)
    parent = (await create_user(db, "parent@campaigns.test")).user_id

    def setup(conn: Connection) -> None:
        conn.execute(
            update(User)
            .where(User.id == owner)
            .values(requires_campaign_approval=True, parent_user_id=parent)
        )

    await db.write(setup)
    campaign_id = await sendable(db, owner)
    future = ScheduleInput("Future", "2025-04-01", "10:00", "Europe/Warsaw")
    await campaigns.update_campaign(db, owner, campaign_id, CampaignUpdate(schedule=future))
    pending = await campaigns.update_campaign(
        db, owner, campaign_id, CampaignUpdate(status=CampaignStatus.READY), NOW
    )
    assert pending is not None
    assert (pending.status, pending.next_run_at) == (CampaignStatus.PENDING_APPROVAL, None)
    assert await campaigns.approve(db, campaign_id, approver_parent=owner) is None  # not itself
    approved = await campaigns.approve(db, campaign_id, approver_parent=parent, now=NOW)
    assert approved is not None and approved.status is CampaignStatus.SCHEDULED
    assert approved.next_run_at == datetime(2025, 4, 1, 8, tzinfo=UTC)
    assert await campaigns.approve(db, campaign_id) is None  # not pending any more
    # a name change keeps the approval; new content asks for it again
    renamed = await campaigns.update_campaign(db, owner, campaign_id, CampaignUpdate(name="N"))
    assert renamed is not None and renamed.status is CampaignStatus.SCHEDULED
    changed = await campaigns.update_campaign(
        db, owner, campaign_id, CampaignUpdate(content={"html": "<p>new</p>"})
    )
    assert changed is not None and changed.status is CampaignStatus.PENDING_APPROVAL
    assert (await campaigns.approve(db, campaign_id, now=NOW)) is not None  # the administrator


async def test_status_changes_that_are_refused(db: Database) -> None:
    owner, _ = await users(db)
    campaign_id = await sendable(db, owner)

    def setup(conn: Connection) -> None:
        conn.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(status=CampaignStatus.SENT)
        )

    await db.write(setup)
    for status in (CampaignStatus.READY, CampaignStatus.DRAFT):
        with pytest.raises(BadStatus):
            await campaigns.update_campaign(db, owner, campaign_id, CampaignUpdate(status=status))
    assert await campaigns.cancel(db, owner, campaign_id) is StatusChange.WRONG_STATE


async def test_copy(db: Database) -> None:
    owner, other = await users(db)
    campaign_id = await sendable(db, owner)
    future = ScheduleInput("Future", "2025-04-01", "10:00", "Europe/Warsaw")
    await campaigns.update_campaign(
        db,
        owner,
        campaign_id,
        CampaignUpdate(status=CampaignStatus.READY, schedule=future, tags=["a"]),
        NOW,
    )
    source = await campaigns.get_campaign(db, owner, campaign_id)
    assert source is not None and source.status is CampaignStatus.SCHEDULED
    copy = await campaigns.copy_campaign(db, owner, campaign_id)
    assert copy is not None and copy.id != campaign_id and copy.hash != source.hash
    assert (copy.name, copy.audience, copy.tags, copy.time_zone) == (
        source.name,
        source.audience,
        source.tags,
        source.time_zone,
    )
    assert (copy.status, copy.schedule_type, copy.send_at, copy.next_run_at, copy.instances) == (
        CampaignStatus.DRAFT,
        ScheduleType.NOT_SCHEDULED,
        None,
        None,
        0,
    )
    assert copy.email_id not in (None, source.email_id)
    copied_email = await campaigns.get_email(db, owner, copy.email_id or 0)
    assert copied_email is not None and copied_email.subject == CONTENT["subject"]
    assert await campaigns.copy_campaign(db, other, campaign_id) is None


async def test_delete_and_cancel(db: Database) -> None:
    owner, other = await users(db)
    first = await sendable(db, owner)
    second = (await campaigns.create_campaign(db, owner, "B")).id
    await campaigns.update_campaign(
        db, owner, first, CampaignUpdate(status=CampaignStatus.READY), NOW
    )
    assert await campaigns.cancel(db, other, first) is StatusChange.NOT_FOUND
    assert await campaigns.cancel(db, owner, first) is StatusChange.DONE
    canceled = await campaigns.get_campaign(db, owner, first)
    assert canceled is not None
    assert (canceled.status, canceled.next_run_at) == (CampaignStatus.CANCELED, None)
    assert await campaigns.cancel(db, owner, first) is StatusChange.DONE  # again: nothing to do
    assert await campaigns.unknown_campaigns(db, other, [first, second, 999999]) == [
        first,
        second,
        999999,
    ]
    assert await campaigns.unknown_campaigns(db, owner, [second, first, second]) == []
    assert await campaigns.delete_campaigns(db, other, [first, second]) == []
    assert await campaigns.delete_campaigns(db, owner, [first, first, 999999]) == [first]
    assert await campaigns.get_campaign(db, owner, first) is None
    assert await campaigns.unknown_campaigns(db, owner, [first, second]) == [first]  # deleted
    assert await campaigns.copy_campaign(db, owner, first) is None
    assert await campaigns.cancel(db, owner, first) is StatusChange.NOT_FOUND
    assert [c.id for c in (await campaigns.list_campaigns(db, owner, CampaignQuery()))[1]] == [
        second
    ]


async def test_emails(db: Database) -> None:
    owner, other = await users(db)
    email = await campaigns.create_email(db, owner, {"name": "E", **CONTENT, "content_url": " "})
    assert (email.name, email.subject, email.content_url) == ("E", CONTENT["subject"], None)
    changed = await campaigns.update_email(db, owner, email.id, {"subject": "New"})
    assert changed is not None and changed.subject == "New" and changed.html == CONTENT["html"]
    assert await campaigns.update_email(db, other, email.id, {"subject": "x"}) is None
    with pytest.raises(campaigns.ContentTooLong):
        await campaigns.update_email(db, owner, email.id, {"subject": "x" * 999})
    made = await campaigns.create_campaign(db, owner, "C")
    await campaigns.update_campaign(db, owner, made.id, CampaignUpdate(email_id=email.id))
    with pytest.raises(EmailInUse):
        await campaigns.delete_email(db, owner, email.id)
    await campaigns.delete_campaigns(db, owner, [made.id])
    assert await campaigns.delete_email(db, other, email.id) is False
    assert await campaigns.delete_email(db, owner, email.id) is True
    assert await campaigns.get_email(db, owner, email.id) is None


async def test_listing(db: Database) -> None:
    owner, other = await users(db)
    names = ["Summer sale", "Winter 100%_off", "summer news", "Autumn"]
    made = [await campaigns.create_campaign(db, owner, name) for name in names]
    await campaigns.create_campaign(db, other, "Summer other")
    await campaigns.update_campaign(db, owner, made[0].id, CampaignUpdate(tags=["Sale", "Q3"]))
    await campaigns.update_campaign(db, owner, made[1].id, CampaignUpdate(tags=["sale"]))

    def setup(conn: Connection) -> None:
        conn.execute(
            update(Campaign)
            .where(Campaign.id == made[3].id)
            .values(status=CampaignStatus.PENDING_APPROVAL)
        )

    await db.write(setup)

    async def ids(**query: object) -> tuple[int, list[str]]:
        total, found = await campaigns.list_campaigns(db, owner, CampaignQuery(**query))  # type: ignore[arg-type]
        return total, [c.name for c in found]

    assert await ids() == (4, names[::-1])
    assert await ids(descending=False, count=2) == (4, names[:2])
    assert await ids(descending=False, start=3) == (4, names[3:])
    assert await ids(order_field="CampaignName", descending=False) == (
        4,
        sorted(names, key=str.lower),
    )
    assert await ids(order_field="nonsense", descending=False) == (4, names)
    assert await ids(keyword="SUMMER", descending=False) == (2, [names[0], names[2]])
    assert await ids(keyword="100%_") == (1, [names[1]])
    assert await ids(keyword="%") == (1, [names[1]])
    assert await ids(statuses=[CampaignStatus.PENDING_APPROVAL]) == (1, ["Autumn"])
    assert await ids(statuses=[CampaignStatus.DRAFT, CampaignStatus.SENT]) == (3, names[2::-1])
    assert await ids(tags=["SALE"], descending=False) == (2, names[:2])
    assert await ids(tags=["q3", "nothing"]) == (1, [names[0]])
    assert await ids(tags=["sal"]) == (0, [])


async def test_segments(db: Database) -> None:
    owner, other = await users(db)
    list_id, _, list_hash = await audience(db, owner)
    assert await segments.owned_list_id(db, owner, list_hash) == list_id
    assert await segments.owned_list_id(db, owner, str(list_id)) == list_id
    assert await segments.owned_list_id(db, other, list_id) is None
    rule = {"type": "fields", "field_id": "EmailAddress", "operator": "contains", "value": "@x"}
    criteria = await segments.checked_segment_criteria(db, owner, list_id, "or", [rule])
    assert criteria["operator"] == "or" and len(criteria["rules"]) == 1
    for wrong in ("{", [{**rule, "field_id": "nosuchfield"}], {"operator": "xor"}):
        with pytest.raises(AudienceError):
            await segments.checked_segment_criteria(db, owner, list_id, None, wrong)
    made = await segments.create_segment(db, owner, list_id, "S", criteria)
    assert await segments.get_segment(db, other, made.id) is None
    assert await segments.update_segment(db, other, made.id, "X", None) is None
    renamed = await segments.update_segment(db, owner, made.id, "Renamed", None)
    assert renamed is not None and (renamed.name, renamed.rules) == ("Renamed", criteria)
    campaign = await campaigns.create_campaign(db, owner, "C")
    await campaigns.update_campaign(
        db, owner, campaign.id, CampaignUpdate(targets=[f"{list_id}:{made.id}"])
    )
    with pytest.raises(segments.SegmentInUse):
        await segments.delete_segment(db, owner, made.id)
    await campaigns.delete_campaigns(db, owner, [campaign.id])
    assert await segments.delete_segment(db, other, made.id) is False
    assert await segments.delete_segment(db, owner, made.id) is True
