"""`emailgateway.getevents`: the events of mail that went through the gateway (queued and
delivered to a sink), paged, filtered and searched, under the legacy names."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.conftest import make_gateway, wait_until
from tests.http_api.conftest import Api, db, serving
from tests.http_api.test_api_s2spostback import campaign_message
from tests.mta.conftest import add_sender
from tests.mta.sink import Sink
from tests.mta.support import message


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, int]]:
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("events"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_RELAY_NETWORKS="127.0.0.0/8",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
        )
        owner = gateway.json("user", "add", "owner@events.test")
        sender = add_sender(gateway, owner["UserID"], "events.test")
        with serving(gateway) as client:
            api = Api.of(gateway, client, owner, owner)
            with smtplib.SMTP("127.0.0.1", gateway.ports["smtp"], timeout=15) as smtp:
                for n, subject in enumerate(["Invoice 100%", "Welcome", "Welcome back"]):
                    to = f"ok-{n}@dest.example"
                    smtp.sendmail(sender.address, [to], message(sender.address, to, subject))
            domain_id = sender.domain_id

            def delivered() -> bool:
                answer = api.call(
                    "emailgateway.getevents", DomainID=domain_id, StartFrom=0, RetrieveCount=10,
                    Event="delivery",
                )  # fmt: skip
                return answer["TotalRecords"] == 3

            wait_until(delivered, timeout=30)
            yield api, domain_id


# 004's fields of a GET /api/v1/events entry, beside 001's.
FIELDS_004 = ("EventId", "EventType", "EventTimestamp", "MessageId", "CampaignId", "Details")


def events(api: Api, domain_id: int, **params: object) -> dict:
    return api.call("emailgateway.getevents", DomainID=domain_id, **params)


def test_events_newest_first_with_headers(setup: tuple[Api, int]) -> None:
    api, domain_id = setup
    answer = events(api, domain_id, StartFrom=0, RetrieveCount=100)
    assert answer["Success"] is True and answer["TotalRecords"] == 6  # 3 queued, 3 delivered
    kinds = [event["event"] for event in answer["Events"]]
    assert sorted(kinds) == ["delivery"] * 3 + ["queued"] * 3
    assert [event["event_type"] for event in answer["Events"]] == kinds  # 004's name
    stamps = [event["timestamp"] for event in answer["Events"]]
    assert stamps == sorted(stamps, reverse=True)
    first = answer["Events"][0]
    assert first["message"]["headers"]["from"] == "app@events.test"
    assert first["message"]["headers"]["to"] == first["recipient"]


def test_paging_filtering_and_search(setup: tuple[Api, int]) -> None:
    api, domain_id = setup
    page = events(api, domain_id, StartFrom=1, RetrieveCount=2)
    assert page["TotalRecords"] == 6 and len(page["Events"]) == 2
    welcome = events(
        api, domain_id, StartFrom=0, RetrieveCount=10, Query="welcome", Event="delivered"
    )
    assert welcome["TotalRecords"] == 2
    assert {e["message"]["headers"]["subject"] for e in welcome["Events"]} == {
        "Welcome",
        "Welcome back",
    }
    literal = events(api, domain_id, StartFrom=0, RetrieveCount=10, Query="100%")
    assert literal["TotalRecords"] == 2  # queued and delivered of the invoice, % taken literally
    future = events(api, domain_id, StartFrom=0, RetrieveCount=10, StartDate="2999-01-01")
    assert future["TotalRecords"] == 0


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"StartFrom": 0, "RetrieveCount": 5, "DomainID": None}, 1),
        ({"StartFrom": 0, "RetrieveCount": 5, "DomainID": 999999}, 2),
        ({"StartFrom": 0, "RetrieveCount": 5, "StartDate": "01/02/2026"}, 3),
        ({"RetrieveCount": 5}, 4),
        ({"StartFrom": 0}, 5),
        ({"StartFrom": 0, "RetrieveCount": 0}, 5),
    ],
)
def test_getevents_errors(setup: tuple[Api, int], params: dict, code: int) -> None:
    api, domain_id = setup
    body = {"DomainID": domain_id} | params
    answer = api.call("emailgateway.getevents", **{k: v for k, v in body.items() if v is not None})
    assert (answer["Success"], answer["ErrorCode"]) == (False, code)


def test_v1_events_for_the_holder_of_a_domain_key(setup: tuple[Api, int]) -> None:
    api, domain_id = setup
    key = api.call("emailgateway.addapi", Description="events", DomainID=domain_id)["APIKey"]
    auth = {"Authorization": f"Bearer {key['APIKey']}"}
    default = api.client.get("/api/v1/events", headers=auth).json()
    assert default["TotalRecords"] == 6 and len(default["Events"]) == 5  # five by default
    event = default["Events"][0]
    assert set(event) == {"Event", "LoggedAt", "Recipient", "MessageID", "Message"} | set(
        FIELDS_004
    )
    assert set(event["Message"]["Headers"]) == {"From", "To", "Subject"}

    delivered = api.client.get(
        "/api/v1/events", params={"Event": "delivered", "RetrieveCount": 50}, headers=auth
    ).json()
    assert {e["Event"] for e in delivered["Events"]} == {"delivery"}
    first = delivered["Events"][0]
    assert {name: first[name] for name in FIELDS_004 if name != "Details"} == {
        "EventId": first["EventId"],
        "EventType": "delivery",
        "EventTimestamp": datetime.fromtimestamp(first["LoggedAt"], UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "MessageId": first["MessageID"],
        "CampaignId": "",  # not a campaign's message
    }
    assert re.fullmatch(r"evt_\d+", first["EventId"])
    assert len({e["EventId"] for e in delivered["Events"]}) == 3
    assert first["Details"]["RemoteHost"] == "127.0.0.1"  # the sink that took it
    assert first["Details"]["Reply"].startswith("250")
    one = delivered["Events"][0]["MessageID"]
    of_message = api.client.get(
        "/api/v1/events", params={"MessageID": one, "RetrieveCount": 50}, headers=auth
    ).json()
    assert of_message["TotalRecords"] == 2  # its queued and delivered events
    later = api.client.get("/api/v1/events", params={"StartDate": 32503680000}, headers=auth).json()
    assert later == {"TotalRecords": 0, "Events": []}


def test_v1_events_name_the_campaign(setup: tuple[Api, int]) -> None:
    api, _ = setup
    other = add_sender(api.gateway, api.user_id, "campaign.events.test")
    campaign_message(api, api.user_id, 7001, other.domain_id)
    key = api.call("emailgateway.addapi", Description="campaign", DomainID=other.domain_id)
    auth = {"Authorization": f"Bearer {key['APIKey']['APIKey']}"}
    [event] = api.client.get("/api/v1/events", headers=auth).json()["Events"]
    assert (event["EventType"], event["CampaignId"]) == ("received", "7001")
    assert event["Details"] == {"Source": "test", "Size": 24}  # as the message was stored


@pytest.mark.parametrize(
    ("headers", "params", "status", "code"),
    [
        ({}, {}, 401, 1),
        ({"Authorization": "Bearer eg_live_wrong"}, {}, 401, 13),
        ({"Authorization": "Bearer {user_key}"}, {}, 401, 13),  # a user key is not a domain key
    ],
)
def test_v1_events_errors(
    setup: tuple[Api, int], headers: dict, params: dict, status: int, code: int
) -> None:
    api, _ = setup
    headers = {k: v.format(user_key=api.key) for k, v in headers.items()}
    answer = api.client.get("/api/v1/events", params=params, headers=headers)
    assert answer.status_code == status
    assert answer.json()["Errors"][0]["Code"] == code


def test_v1_events_refuse_a_deactivated_account(setup: tuple[Api, int]) -> None:
    api, _ = setup
    user = api.gateway.json("user", "add", "events-gone@events.test")
    domain_id = api.call("emailgateway.adddomain", key=user["APIKey"], DomainName="gone.example")[
        "NewSenderDomainID"
    ]
    added = api.call("emailgateway.addapi", key=user["APIKey"], Description="d", DomainID=domain_id)
    auth = {"Authorization": f"Bearer {added['APIKey']['APIKey']}"}
    assert api.client.get("/api/v1/events", headers=auth).status_code == 200
    with db(api) as conn:
        conn.execute("UPDATE users SET status = 'deactivated' WHERE id = ?", (user["UserID"],))
    answer = wait_until(  # gently: every request counts against the key's rate limit
        lambda: (r := api.client.get("/api/v1/events", headers=auth)).status_code == 403 and r,
        interval=0.25,
    )
    assert answer.json()["Errors"][0]["Code"] == 2


def test_domain_stats(setup: tuple[Api, int]) -> None:
    api, domain_id = setup
    stats = api.call("emailgateway.domainstats", DomainID=domain_id)
    assert stats == {
        "Success": True,
        "ErrorCode": 0,
        "Stats": {
            "Sent": 3,
            "Delivered": 3,
            "Bounced": 0,
            "Opened": 0,
            "Clicked": 0,
            "UniqueOpened": 0,
            "UniqueClicked": 0,
        },
        "ComparisonStats": {"PreviousPeriod": {"Sent": 0, "Delivered": 0}},
        "TagStats": {},
    }
    old = api.call(
        "emailgateway.domainstats", DomainID=domain_id, StartDate="2020-01-01", EndDate="2020-01-31"
    )
    assert old["Stats"]["Sent"] == 0
    for params, code in (
        ({}, 1),
        ({"DomainID": 999999}, 2),
        ({"DomainID": domain_id, "EndDate": "x"}, 3),
    ):
        answer = api.call("emailgateway.domainstats", **params)
        assert (answer["Success"], answer["ErrorCode"]) == (False, code)


def test_aggregated_events(setup: tuple[Api, int]) -> None:
    api, domain_id = setup
    answer = api.call("emailgateway.aggrevents", DomainID=domain_id)
    assert answer == {
        "Success": True,
        "ErrorCode": 0,
        "AggBuckets": [{"key": "delivery", "doc_count": 3}, {"key": "queued", "doc_count": 3}],
    }
    top = api.call("emailgateway.aggrevents", DomainID=domain_id, AggregateSize=1)
    assert len(top["AggBuckets"]) == 1
    for size in ("\u00b2", str(2**64), "0", "-1", "x"):  # "²" was int()'s ValueError: a 500
        every = api.call("emailgateway.aggrevents", DomainID=domain_id, AggregateSize=size)
        assert every == answer, size
    for field in ("event", "eventType", "EVENTTYPE"):  # 004 spells it eventType
        by_field = api.call("emailgateway.aggrevents", DomainID=domain_id, AggregatedField=field)
        assert by_field == answer, field
    for params, code in (
        ({}, 1),
        ({"DomainID": 999999}, 2),
        ({"DomainID": domain_id, "StartDate": "yesterday"}, 3),
        ({"DomainID": domain_id, "AggregatedField": "subject"}, 3),
    ):
        failed = api.call("emailgateway.aggrevents", **params)
        assert (failed["Success"], failed["ErrorCode"]) == (False, code)
