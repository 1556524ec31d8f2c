"""`emailgateway.recipientdomainstats`: how fast mail that really went through the gateway (to
a sink that accepts, delays and rejects) reached one recipient domain, in the documented shape,
for the owner of the sender domain only."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import pytest

from tests.conftest import make_gateway, wait_until
from tests.http_api.conftest import Api, db, serving
from tests.mta.conftest import Sender, add_sender
from tests.mta.sink import Sink
from tests.mta.support import message

COMMAND = "emailgateway.recipientdomainstats"
BUCKETS = ["< 1s", "1-5s", "5-10s", "10-30s", "30-60s", "1-5m", "5-10m", "> 10m"]


@dataclass
class Setup:
    api: Api
    mine: int  # the owner's sender domain
    theirs: int  # the other user's


def send(api: Api, sender: Sender, recipients: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", api.gateway.ports["smtp"], timeout=15) as smtp:
        for to in recipients:
            smtp.sendmail(sender.address, [to], message(sender.address, to, "Speed"))


def all_finished(api: Api) -> bool:
    with closing(db(api)) as conn:
        waiting = "SELECT count(*) FROM deliveries WHERE status IN ('queued', 'deferred')"
        return conn.execute(waiting).fetchone()[0] == 0


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("recipient-stats"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_RELAY_NETWORKS="127.0.0.0/8",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
        )
        owner = gateway.json("user", "add", "owner@speed.test")
        other = gateway.json("user", "add", "other@speed.test")
        mine = add_sender(gateway, owner["UserID"], "speed.test")
        theirs = add_sender(gateway, other["UserID"], "their-speed.test")
        with serving(gateway) as client:
            api = Api.of(gateway, client, owner, other)
            # slow- is accepted after two seconds, unknown- is refused with 550 5.1.1.
            send(api, mine, ["ok-1@dest.example", "slow-1@dest.example"])
            send(api, mine, ["unknown-1@dest.example", "ok-2@elsewhere.example"])
            send(api, theirs, ["ok-3@dest.example"])
            wait_until(lambda: all_finished(api), timeout=60)
            yield Setup(api, mine.domain_id, theirs.domain_id)


def stats(setup: Setup, key: str | None = None, **params: object) -> dict:
    return setup.api.call(COMMAND, key=key, **params)


def test_sent_and_failed_in_the_documented_shape(setup: Setup) -> None:
    answer = stats(setup, DomainID=setup.mine, RecipientToDomain="DEST.Example")
    assert (answer["Success"], answer["ErrorCode"]) == (True, 0)
    sent, failed = answer["SummaryStats"]
    assert set(sent) == {
        "Status", "TotalEmails", "AvgDeliverySeconds", "MinDeliverySeconds", "MaxDeliverySeconds"
    }  # fmt: skip
    assert (sent["Status"], sent["TotalEmails"]) == ("Sent", 2)  # elsewhere.example left out
    assert (failed["Status"], failed["TotalEmails"]) == ("Failed", 1)
    assert sent["MaxDeliverySeconds"] >= 2  # slow-1 waited two seconds at the sink
    assert sent["MinDeliverySeconds"] <= sent["AvgDeliverySeconds"] <= sent["MaxDeliverySeconds"]
    assert failed["MinDeliverySeconds"] == failed["MaxDeliverySeconds"]
    assert failed["AvgDeliverySeconds"] == failed["MinDeliverySeconds"]

    histogram = answer["DeliverySpeedHistogram"]
    assert set(histogram) == {"Sent", "Failed"}
    for status, summary in (("Sent", sent), ("Failed", failed)):
        rows = histogram[status]
        assert all(set(row) == {"DeliveryBucket", "EmailCount", "Percentage"} for row in rows)
        labels = [row["DeliveryBucket"] for row in rows]
        assert labels == [label for label in BUCKETS if label in labels]  # documented order
        assert all(row["EmailCount"] > 0 for row in rows)  # only buckets with mail
        assert sum(row["EmailCount"] for row in rows) == summary["TotalEmails"]
        for row in rows:
            share = round(100 * row["EmailCount"] / summary["TotalEmails"], 2)
            assert row["Percentage"] == share
    assert histogram["Sent"][-1]["DeliveryBucket"] != "< 1s"  # the slow one


def test_each_owner_sees_only_the_mail_of_their_domain(setup: Setup) -> None:
    theirs = stats(
        setup, key=setup.api.other_key, DomainID=setup.theirs, RecipientToDomain="dest.example"
    )
    assert [(row["Status"], row["TotalEmails"]) for row in theirs["SummaryStats"]] == [("Sent", 1)]
    assert theirs["DeliverySpeedHistogram"]["Failed"] == []
    for key, domain_id in ((setup.api.other_key, setup.mine), (None, setup.theirs)):
        refused = stats(setup, key=key, DomainID=domain_id, RecipientToDomain="dest.example")
        assert refused == {
            "Success": False,
            "ErrorCode": 2,
            "ErrorMessage": "Domain not found or access denied",
        }


def test_no_mail_in_the_period_or_to_the_domain(setup: Setup) -> None:
    empty = {
        "Success": True,
        "ErrorCode": 0,
        "SummaryStats": [],
        "DeliverySpeedHistogram": {"Sent": [], "Failed": []},
    }
    assert stats(setup, DomainID=setup.mine, RecipientToDomain="nobody.example") == empty
    old = stats(
        setup, DomainID=setup.mine, RecipientToDomain="dest.example",
        StartDate="2020-01-01", EndDate="2020-01-31",
    )  # fmt: skip
    assert old == empty


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"RecipientToDomain": "dest.example"}, 1),
        ({"DomainID": "{mine}"}, 1),
        ({"DomainID": "{mine}", "RecipientToDomain": "  "}, 1),
        ({}, 1),
        ({"DomainID": 999999, "RecipientToDomain": "dest.example"}, 2),
        ({"DomainID": "{mine}", "RecipientToDomain": "dest.example", "StartDate": "1/2/2026"}, 3),
    ],
)
def test_errors(setup: Setup, params: dict, code: int) -> None:
    filled = {k: setup.mine if v == "{mine}" else v for k, v in params.items()}
    answer = stats(setup, **filled)
    assert (answer["Success"], answer["ErrorCode"]) == (False, code)


def test_manage_domain_permission_is_required(setup: Setup) -> None:
    user = setup.api.gateway.json("user", "add", "limited@speed.test")
    setup.api.gateway.json(
        "user", "permissions", str(user["UserID"]), "--revoke", "EmailGateway.ManageDomain"
    )
    answer = setup.api.client.post(
        "/api.php",
        json={"Command": COMMAND, "APIKey": user["APIKey"], "DomainID": setup.mine,
              "RecipientToDomain": "dest.example"},
    )  # fmt: skip
    assert (answer.status_code, answer.json()["ErrorCode"]) == (403, 99999)
