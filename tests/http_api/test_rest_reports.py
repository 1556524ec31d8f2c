"""`/rest/reports` and a subscriber's campaign history over real HTTP against `mailgate serve`:
a campaign's runs, deliveries and events are written into the gateway's database as the
sending path writes them (tests/storage/campaign_support.py), then read through the signed API
by its owner and by another account."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from storage.engine import Database
from storage.models import Campaign
from tests.http_api.conftest import Api, running_api
from tests.storage.campaign_support import at, new_campaign, sent_campaign


@dataclass
class Sent:
    api: Api
    hash: str
    draft_hash: str


async def _write(api: Api) -> tuple[str, str]:
    db = Database(api.gateway.database_url)
    try:
        campaign_id, _, _ = await sent_campaign(db, api.user_id, api.other_user_id)
        draft_id = await new_campaign(db, api.user_id, "Not yet")
        for number in range(25):
            await new_campaign(db, api.user_id, f"Old {number}", "Old news", at(-3600 - number))
        hashes = {row.id: row.hash for row in await db.rows(select(Campaign.id, Campaign.hash))}
        return hashes[campaign_id], hashes[draft_id]
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    with running_api(tmp_path_factory.mktemp("reports")) as api:
        yield Sent(api, *asyncio.run(_write(api)))


def get(sent: Sent, path: str, other: bool = False) -> tuple[int, dict]:
    client = sent.api.other_rest if other else sent.api.rest
    answer = client.get(path)
    return answer.status_code, answer.json()


def test_campaigns_list_pages_the_sent_campaigns(sent: Sent) -> None:
    status, answer = get(sent, "/rest/reports/campaignsList")
    assert status == 200 and answer["status"] == "OK"
    first_page = answer["data"]
    assert len(first_page) == 25
    assert first_page[0] == {
        "name": "Spring",
        "topic": "Spring sale",
        "subscribers": 6,
        "id_hash": sent.hash,
        "sent": "2030-01-02 10:00:00",
    }
    assert first_page[1]["name"] == "Old 0" and first_page[1]["sent"] == "2030-01-02 09:00:00"
    assert get(sent, "/rest/reports/campaignsList/1")[1]["data"] == first_page
    assert [c["name"] for c in get(sent, "/rest/reports/campaignsList/2")[1]["data"]] == ["Old 24"]
    assert get(sent, "/rest/reports/campaignsList/3")[1]["data"] == []
    assert sent.draft_hash not in {c["id_hash"] for c in first_page}
    their_list = get(sent, "/rest/reports/campaignsList", other=True)[1]["data"]
    assert [c["name"] for c in their_list] == ["Theirs"]
    for page in ("0", "-1", "abc", "1.5", "1000001"):
        assert sent.api.rest.error(f"/rest/reports/campaignsList/{page}", method="GET") == (
            400,
            [1401],
        )
    assert sent.api.rest.error("/rest/reports/campaignsList", {}) == (405, [1003])


def test_aggregate_report_as_documented(sent: Sent) -> None:
    status, answer = get(sent, f"/rest/reports/campaign/{sent.hash}")
    assert status == 200
    assert answer == {
        "status": "OK",
        "data": {
            "subscribers": 6,
            "delivered": 3,
            "hard_bounce": 1,
            "soft_bounce": 1,
            "opened": 4,
            "clicked": 2,
            "unique_opened": 2,
            "unique_clicked": 2,
            "resigned": 1,
        },
    }
    draft = get(sent, f"/rest/reports/campaign/{sent.draft_hash}")[1]["data"]
    assert set(draft.values()) == {0}


def test_time_details_in_ten_minute_periods(sent: Sent) -> None:
    status, answer = get(sent, f"/rest/reports/campaignTimeDetails/{sent.hash}")
    assert status == 200
    assert answer == {
        "status": "OK",
        "data": [
            {"opened": "1", "unique_opened": "1", "clicked": "2", "unique_clicked": "2",
             "time": "2030-01-02 10:00"},
            {"opened": "3", "unique_opened": "2", "clicked": "0", "unique_clicked": "0",
             "time": "2030-01-02 10:10"},
        ],
    }  # fmt: skip
    assert get(sent, f"/rest/reports/campaignTimeDetails/{sent.draft_hash}")[1]["data"] == []


def test_unknown_or_anothers_campaign_is_1402(sent: Sent) -> None:
    for action in ("campaign", "campaignTimeDetails"):
        path = f"/rest/reports/{action}"
        for wrong in (f"{path}/nosuchhash", path, f"{path}/{sent.hash}x"):
            assert sent.api.rest.error(wrong, method="GET") == (400, [1402])
        assert sent.api.other_rest.error(f"{path}/{sent.hash}", method="GET") == (400, [1402])


def test_subscriber_history_shows_the_campaigns_sent(sent: Sent) -> None:
    rest = sent.api.rest
    list_hash = rest.ok("/rest/subscribers_list/create", {"name": "Readers"})["hash"]
    for address in ("a@x.test", "c@x.test", "nobody@x.test"):
        rest.ok("/rest/subscriber/add", {"email": address, "list": list_hash, "state": 1})
    history = rest.ok("/rest/subscriber/getHistory", {"email": "A@x.test", "list": list_hash})
    assert history == [
        {"name": "Spring", "email_topic": "Subject $$name$$",
         "scheduled_sent": "2030-01-02 11:00:00", "state": "DELIVERED", "opens_count": "0",
         "clicks_count": "0"},
        {"name": "Spring", "email_topic": "Subject $$name$$",
         "scheduled_sent": "2030-01-02 10:00:00", "state": "DELIVERED", "opens_count": "3",
         "clicks_count": "1"},
    ]  # fmt: skip
    limited = rest.ok(
        "/rest/subscriber/getHistory", {"email": "a@x.test", "list": list_hash, "limit": "1"}
    )
    assert [h["scheduled_sent"] for h in limited] == ["2030-01-02 11:00:00"]
    soft = rest.ok("/rest/subscriber/getHistory", {"email": "c@x.test", "list": list_hash})
    assert [h["state"] for h in soft] == ["SOFT_BOUNCE"]
    subscriber = rest.get(f"/rest/subscriber/get/{list_hash}/a@x.test").json()["data"]
    assert subscriber["sent"] == "2030-01-02 11:00:00"
    asked = {"email": "nobody@x.test", "list": list_hash}
    assert rest.error("/rest/subscriber/getHistory", asked) == (400, [1315])
    # Another account sees its own campaign to the address, none of the owner's.
    other = sent.api.other_rest
    theirs = other.ok("/rest/subscribers_list/create", {"name": "Theirs"})["hash"]
    for address in ("a@x.test", "b@x.test"):
        other.ok("/rest/subscriber/add", {"email": address, "list": theirs})
    their_history = other.ok("/rest/subscriber/getHistory", {"email": "a@x.test", "list": theirs})
    assert [(h["name"], h["opens_count"]) for h in their_history] == [("Theirs", "1")]
    asked = {"email": "b@x.test", "list": theirs}
    assert other.error("/rest/subscriber/getHistory", asked) == (400, [1315])
