"""Campaigns end to end: made over /api.php, started by the scheduler inside a running `mailgate
serve`, delivered to a sink MX, followed over real HTTP (opens, clicks, unsubscribe), reported
by Campaign.Get and /rest/reports; paused, resumed, canceled and restarted mid-send."""

from __future__ import annotations

import json
import re
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Gateway, make_gateway, wait_until
from tests.http_api.conftest import RestClient, fetch_tracking_url, serving
from tests.mta.conftest import Sender, add_sender
from tests.mta.sink import Sink
from tests.mta.support import parsed
from tests.mta.test_webhooks import Receiver, serve_receiver
from tests.store_sql import sql_many

DOMAIN = "news.test"
NOW = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class Setup:
    gateway: Gateway
    client: httpx.Client
    rest: RestClient
    sink: Sink
    sender: Sender
    user_id: int
    key: str

    def many(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        sql_many(self.gateway.database_url, statement, rows)

    def api(self, command: str, **params: Any) -> dict[str, Any]:
        body = {"Command": command, "APIKey": self.key, **params}
        answer = dict(self.client.post("/api.php", json=body).json())
        return answer

    def ok(self, command: str, **params: Any) -> dict[str, Any]:
        answer = self.api(command, **params)
        assert answer["Success"] is True, answer
        return answer

    def fetch(self, url: str, method: str = "GET") -> httpx.Response:
        return fetch_tracking_url(self.client, url, method)

    def new_list(self, name: str, fields: dict[str, bool]) -> int:
        """A subscriber list with custom fields ({tag: numeric}), made in the store."""
        [(list_id,)] = self.gateway.sql(
            "INSERT INTO subscriber_lists (user_id, hash, name, description, created_at) "
            "VALUES (?, ?, ?, '', ?) RETURNING id",
            self.user_id, f"{name}xxxxxxxxxx"[:10], name, NOW,
        )  # fmt: skip
        for tag, numeric in fields.items():
            self.gateway.sql(
                "INSERT INTO list_fields (list_id, hash, name, tag, numeric, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                list_id, f"f{name}{tag}"[:16], tag, tag, numeric, NOW,
            )  # fmt: skip
        return int(list_id)

    def subscribe(self, list_id: int, people: list[tuple[str, int, dict[str, Any]]]) -> None:
        self.many(
            "INSERT INTO subscribers (list_id, email, state, custom_fields, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(list_id, mail, state, json.dumps(fields), NOW) for mail, state, fields in people],
        )

    def campaign(self, name: str, audience: str, **more: Any) -> int:
        """A campaign with content and audience, left in Draft."""
        campaign_id = int(self.ok("Campaign.Create", CampaignName=name)["CampaignID"])
        self.ok(
            "Campaign.Update",
            CampaignID=campaign_id,
            Subject="Hello $$name$$",
            FromName="News",
            FromEmail=f"news@{DOMAIN}",
            HTMLContent=(
                "<html><body><p>Dear $$name$$,</p>"
                '<p><a href="https://shop.example/sale">Sale</a></p></body></html>'
            ),
            PlainContent="Dear $$name$$, see https://shop.example/sale",
            RecipientListsAndSegments=audience,
            **more,
        )
        return campaign_id

    def send_now(self, campaign_id: int) -> None:
        self.ok(
            "Campaign.Update", CampaignID=campaign_id, CampaignStatus="Ready",
            ScheduleType="Immediate",
        )  # fmt: skip

    def status(self, campaign_id: int) -> str:
        [(status,)] = self.gateway.sql("SELECT status FROM campaigns WHERE id = ?", campaign_id)
        return str(status)

    def deliveries(self, campaign_id: int) -> dict[str, int]:
        rows = self.gateway.sql(
            "SELECT d.status, count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id "
            "WHERE m.campaign_id = ? GROUP BY d.status",
            campaign_id,
        )
        return {str(status): int(count) for status, count in rows}

    def received(self, prefix: str) -> list[str]:
        """Recipients the sink accepted whose address starts with `prefix`, repeats included."""
        with self.sink.handler.lock:
            return [
                rcpt
                for transaction in self.sink.handler.received
                for rcpt in transaction.recipients
                if rcpt.startswith(prefix)
            ]

    def messages_to(self, recipient: str) -> list[bytes]:
        return [t.content for t in self.sink.transactions_to(recipient)]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint on loopback (its /ok path answers 200)."""
    made = Receiver()
    server = serve_receiver(made)
    try:
        yield made
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("campaigns"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_CAMPAIGN_BATCH="100",  # runs of several batches
            MAILGATE_ALLOW_PRIVATE_TARGETS="1",  # the webhook receiver is on loopback
        )
        user = gateway.json("user", "add", f"owner@{DOMAIN}")
        sender = add_sender(gateway, int(user["UserID"]), DOMAIN)
        with serving(gateway) as client:
            rest = RestClient(client, user["RestApiKey"], user["RestApiSecret"])
            made = Setup(gateway, client, rest, sink, sender, int(user["UserID"]), user["APIKey"])
            changed = made.api(
                "emailgateway.updatedomain", DomainID=sender.domain_id, UnsubscribeLink=1
            )
            assert changed["Success"] is True
            yield made


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content())


def test_a_segmented_campaign_reaches_exactly_its_audience_personalised_and_reported(
    setup: Setup, receiver: Receiver
) -> None:
    """1,000 subscribers: a segment (age over 20), an exclusion list, inactive and suppressed
    addresses. The sink gets exactly the right people, once each, personalised; opens, clicks
    and an unsubscribe followed over HTTP show in the reports and reach webhooks with the
    campaign's id."""
    hook = setup.ok(
        "emailgateway.addwebhook", DomainID=setup.sender.domain_id, Event="open",
        WebhookURL=receiver.url("/ok"),
    )  # fmt: skip
    main = setup.new_list("readers", {"name": False, "age": True})
    people, expected = [], set()
    inactive = suppressed = 0  # of the segment: skipped and counted
    for n in range(1000):
        address = f"ok-r{n:04d}@dest.test"
        state = 3 if n % 10 == 3 else 2 if n % 17 == 5 else 1
        people.append((address, state, {"name": f"Reader {n}", "age": str(n % 50)}))
        if n % 50 > 20:
            inactive += state != 1
            suppressed += state == 1 and n % 45 == 11
            if state == 1 and n % 20 != 5 and n % 45 != 11:
                expected.add(address)
    setup.subscribe(main, people)
    excluded = setup.new_list("excluded", {})
    setup.subscribe(excluded, [(f"ok-r{n:04d}@dest.test", 1, {}) for n in range(5, 1000, 20)])
    setup.many(
        "INSERT INTO suppressions (address, scope, user_id, reason, source, created_at) "
        "VALUES (?, 'account', ?, 'manual', 'test', ?)",
        [(f"ok-r{n:04d}@dest.test", setup.user_id, NOW) for n in range(11, 1000, 45)],
    )
    segment = setup.ok(
        "Segment.Create",
        SegmentName="adults",
        SegmentListID=main,
        SegmentOperator="and",
        SegmentRulesJson=json.dumps(
            [
                {"type": "fields", "field_id": "age", "operator": "greater", "value": "20"},
                {"type": "fields", "field_id": "name", "operator": "contains", "value": "reader"},
            ]
        ),
    )
    campaign_id = setup.campaign(
        "Autumn", f"{main}:{segment['SegmentID']}", Exclude_RecipientListsAndSegments=str(excluded)
    )
    setup.send_now(campaign_id)

    wait_until(lambda: setup.status(campaign_id) == "Sent", timeout=60)
    got = setup.received("ok-r")
    assert sorted(got) == sorted(expected)  # the right people, each once

    sample = sorted(expected)[:5]
    for address in sample:
        [raw] = setup.messages_to(address)
        assert b"X-Mailgate-" not in raw  # no marker line left
        assert not re.search(rb"mgm[0-9a-f]{16}|mgt[ocu][0-9a-f]{28}", raw)  # nor a placeholder
        message = parsed(raw)
        n = int(address[4:8])
        assert message["To"] == address
        assert message["Subject"] == f"Hello Reader {n}"
        assert f"Dear Reader {n}," in part(message, "html")
        assert f"Dear Reader {n}," in part(message, "plain")

    def urls(address: str) -> tuple[str, str, str]:
        html = part(parsed(setup.messages_to(address)[0]), "html")
        links = re.findall(r"""href=["']([^"']+)["']""", html)
        click = next(link for link in links if "/t/c/" in link)
        unsubscribe = next(link for link in links if "/u/" in link)
        pixel = re.findall(r"""src=["']([^"']+/t/o/[^"']+)["']""", html)[0]
        return pixel, click, unsubscribe

    for address in sample:
        pixel, click, _ = urls(address)
        assert setup.fetch(pixel).status_code == 200
        assert setup.fetch(pixel).status_code == 200  # a second open, not a second reader
        if address in sample[:3]:
            assert setup.fetch(click).status_code in (302, 303)
    _, _, unsubscribe = urls(sample[4])
    assert setup.fetch(unsubscribe, "POST").status_code == 200

    [(campaign_hash,)] = setup.gateway.sql("SELECT hash FROM campaigns WHERE id = ?", campaign_id)

    def report() -> dict[str, Any]:
        answer = setup.rest.get(f"/rest/reports/campaign/{campaign_hash}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["data"])

    wait_until(lambda: int(report()["resigned"]) == 1)
    figures = report()
    assert int(figures["subscribers"]) == len(expected)
    assert int(figures["delivered"]) == len(expected)
    assert int(figures["unique_opened"]) == 5
    assert int(figures["opened"]) == 10
    assert int(figures["unique_clicked"]) == 3
    assert int(figures["hard_bounce"]) == int(figures["soft_bounce"]) == 0

    got_campaign = setup.ok("Campaign.Get", CampaignID=campaign_id, RetrieveStatistics="true")
    details = got_campaign["Campaign"]
    assert int(details["TotalSent"]) == len(expected)
    assert details["HardBounceRatio"] == "0.00"
    counted = details["Statistics"]["RecipientStatistics"]
    assert (counted["Queued"], counted["SkippedInactive"], counted["SkippedSuppressed"]) == (
        len(expected),
        inactive,
        suppressed,
    )

    [(state,)] = setup.gateway.sql(
        "SELECT state FROM subscribers WHERE list_id = ? AND email = ?", main, sample[4]
    )
    assert state == 4  # resigned

    calls = wait_until(lambda: len(receiver.to("/ok")) >= 10 and receiver.to("/ok"), timeout=30)
    assert {json.loads(call.body)["campaign_id"] for call in calls} == {campaign_id}
    setup.ok(
        "emailgateway.deletewebhook", DomainID=setup.sender.domain_id,
        WebhookID=hook["NewWebhookID"],
    )  # fmt: skip


def _people(prefix: str, count: int) -> list[tuple[str, int, dict[str, Any]]]:
    return [(f"ok-{prefix}{n:04d}@dest.test", 1, {"name": f"N{n}"}) for n in range(count)]


def _mid_send(setup: Setup, prefix: str, count: int) -> tuple[int, set[str]]:
    """A campaign to `count` people started while the sink holds every answer: some
    deliveries are then in flight and the rest wait in the queue."""
    list_id = setup.new_list(prefix, {"name": False})
    people = _people(prefix, count)
    setup.subscribe(list_id, people)
    campaign_id = setup.campaign(prefix, str(list_id))
    setup.sink.handler.gate.clear()
    setup.send_now(campaign_id)
    wait_until(lambda: sum(setup.deliveries(campaign_id).values()) == count, timeout=60)
    prefix = f"ok-{prefix}"
    wait_until(lambda: any(a.startswith(prefix) for a in list(setup.sink.handler.offered)))
    return campaign_id, {address for address, _, _ in people}


def _settled(setup: Setup, campaign_id: int) -> dict[str, int]:
    """Once nothing of the campaign is due or in a worker's hands, its deliveries by status."""

    def settled() -> dict[str, int] | None:
        counts = setup.deliveries(campaign_id)
        [(busy,)] = setup.gateway.sql(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id "
            "WHERE m.campaign_id = ? AND (d.status IN ('queued', 'deferred') "
            "OR d.locked_by IS NOT NULL)",
            campaign_id,
        )
        return counts if busy == 0 else None

    return dict(wait_until(settled, timeout=60))


def test_pause_holds_the_rest_and_resume_sends_it_once(setup: Setup) -> None:
    campaign_id, everyone = _mid_send(setup, "p", 300)
    assert setup.ok("Campaign.Pause", CampaignID=campaign_id)
    assert setup.api("Campaign.Pause", CampaignID=campaign_id)["ErrorCode"] == 3  # not Sending
    setup.sink.handler.gate.set()
    paused = _settled(setup, campaign_id)
    assert paused.get("held", 0) > 0
    assert len(setup.received("ok-p")) == paused["delivered"]  # nothing held was sent

    assert setup.ok("Campaign.Resume", CampaignID=campaign_id)
    wait_until(lambda: setup.status(campaign_id) == "Sent", timeout=60)
    assert sorted(setup.received("ok-p")) == sorted(everyone)


def test_cancel_drops_what_was_not_sent(setup: Setup) -> None:
    campaign_id, everyone = _mid_send(setup, "c", 300)
    assert setup.ok("Campaign.Cancel", CampaignID=campaign_id)
    setup.sink.handler.gate.set()
    counts = _settled(setup, campaign_id)
    assert counts.get("canceled", 0) > 0
    assert counts["delivered"] + counts["canceled"] == len(everyone)
    got = setup.received("ok-c")
    assert len(got) == len(set(got)) == counts["delivered"]
    assert setup.status(campaign_id) == "Canceled"


def test_a_restart_mid_send_sends_to_everyone_once(setup: Setup) -> None:
    campaign_id, everyone = _mid_send(setup, "s", 300)
    stopping = threading.Thread(target=setup.gateway.stop, args=(signal.SIGTERM,))
    stopping.start()
    setup.sink.handler.gate.set()  # the deliveries in flight finish; then the gateway exits
    stopping.join(timeout=60)
    assert not stopping.is_alive()
    setup.gateway.start()
    wait_until(lambda: setup.status(campaign_id) == "Sent", timeout=60)
    assert sorted(setup.received("ok-s")) == sorted(everyone)


def test_a_rest_campaign_sends_and_its_unsubscribe_button_leads_to_its_resign_link(
    setup: Setup,
) -> None:
    list_id = setup.new_list("rest", {"name": False})
    setup.subscribe(list_id, [("ok-rest@dest.test", 1, {"name": "Rest"})])
    made = setup.rest.post(
        "/rest/campaigns/create",
        {
            "name": "Over REST", "subject": "Hi $$name$$", "html": "<p>Hi $$name$$</p>",
            "from_address": f"news@{DOMAIN}", "list": "restxxxxxx",
            "resignlink": "https://news.test/goodbye",
        },
    )  # fmt: skip
    assert made.status_code == 200, made.text
    sent = setup.rest.post("/rest/campaigns/send", {"hash": made.json()["data"]["hash"]})
    assert sent.status_code == 200, sent.text

    raw = wait_until(lambda: setup.messages_to("ok-rest@dest.test"), timeout=30)[0]
    message = parsed(raw)
    assert message["Subject"] == "Hi Rest"
    html = part(message, "html")
    [unsubscribe] = [link for link in re.findall(r'href="([^"]+)"', html) if "/u/" in link]
    parts = urlsplit(unsubscribe)
    answer = setup.client.post(parts.path, data={"confirm": "1"}, headers={"Host": parts.netloc})
    assert answer.status_code == 303
    assert answer.headers["location"] == "https://news.test/goodbye"
    [(state,)] = setup.gateway.sql("SELECT state FROM subscribers WHERE list_id = ?", list_id)
    assert state == 4
