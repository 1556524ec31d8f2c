"""`/rest/campaigns` over real HTTP against `mailgate serve`: create (content, a page fetched from
a local HTTP server, sender, lists and groups), edit, delete, test copies delivered to a sink
MX, and send now or at a time; every error code of 003 for these actions. Last, end to end: a
campaign sent now reaches its list's subscribers and shows in the reports and their history."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from mailgate.config import load_settings
from storage.accounts import create_user
from storage.domains import add_domain, set_domain_status
from storage.engine import Database
from storage.models import DomainStatus, Segment
from tests.conftest import Gateway, make_gateway, wait_until
from tests.http_api.conftest import RestClient, serving
from tests.mta.sink import Sink

DOMAIN, OTHER = "camp.test", "elsewhere.test"
PAGE = b"<html><body><p>From the page, $$email$$</p></body></html>"


class Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/page.html":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Setup:
    gateway: Gateway
    sink: Sink
    rest: RestClient
    other: RestClient
    bare: RestClient  # an account without sender domains
    pages: str
    lists: dict[str, str]  # name -> hash, the owner's ("news", "deals") and the other's ("theirs")
    groups: dict[str, str]  # name -> hash: "news-a" (of news), "theirs-a"

    def create(self, client: RestClient | None = None, **fields: Any) -> str:
        data = {"name": "Spring", "html": "<p>Hi $$email$$</p>", "list": self.lists["news"]}
        return str((client or self.rest).ok("/rest/campaigns/create", {**data, **fields})["hash"])

    def campaign(self, campaign_hash: str) -> dict[str, Any]:
        [row] = self.gateway.sql(
            "SELECT c.name, c.status, c.audience, e.subject, e.from_email, e.from_name, "
            "e.reply_to_email, e.html, e.text, e.content_url, c.deleted_at, c.send_at "
            "FROM campaigns c LEFT JOIN campaign_emails e ON e.id = c.email_id WHERE c.hash = ?",
            campaign_hash,
        )
        keys = ("name", "status", "audience", "subject", "from_email", "from_name", "reply_to",
                "html", "text", "content_url", "deleted_at", "send_at")  # fmt: skip
        return dict(zip(keys, row, strict=True))


@dataclass
class Account:
    user_id: int
    key: str
    secret: str


async def _prepare(gateway: Gateway) -> dict[str, Account]:
    """The owner (with DOMAIN), the other account (with OTHER) and one without domains, made
    in-process with the storage operations `mailgate user add` and `domain add` run."""
    settings = load_settings(gateway.env)
    assert settings.conversion_key is not None
    db = Database(settings.database_url)
    made = {}
    try:
        for name, domain in (("owner", DOMAIN), ("other", OTHER), ("bare", None)):
            user = await create_user(db, f"{name}@users.test")
            secret = user.rest_secret(settings.conversion_key)
            made[name] = Account(user.user_id, user.rest_api_key, secret)
            if domain is not None:
                added = await add_domain(db, user.user_id, domain, settings.return_path_subdomain)
                await set_domain_status(db, added.id, DomainStatus.ENABLED)
    finally:
        await db.dispose()
    return made


async def _add_segment(gateway: Gateway, user_id: int, list_id: int, segment_hash: str) -> None:
    db = Database(load_settings(gateway.env).database_url)
    rules = {"operator": "and", "rules": []}
    statement = insert(Segment).values(
        user_id=user_id, list_id=list_id, hash=segment_hash, name=segment_hash, rules=rules
    )
    try:

        def setup(conn: Connection) -> None:
            conn.execute(statement)

        await db.write(setup)
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    pages = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=pages.serve_forever, args=(0.02,), daemon=True).start()
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("rest-campaigns"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_ALLOW_PRIVATE_TARGETS="1",  # the page server is on loopback
        )
        accounts = asyncio.run(_prepare(gateway))
        with serving(gateway) as client:
            made = {name: RestClient(client, a.key, a.secret) for name, a in accounts.items()}
            setup = Setup(
                gateway, sink, made["owner"], made["other"], made["bare"],
                f"http://127.0.0.1:{pages.server_address[1]}", {}, {},
            )  # fmt: skip
            for owner, name in (("owner", "news"), ("owner", "deals"), ("other", "theirs")):
                created = made[owner].ok("/rest/subscribers_list/create", {"name": name})
                setup.lists[name] = created["hash"]
            for owner, name, group in (("owner", "news", "newsaaaaaa"),
                                       ("other", "theirs", "theirsaaaa")):  # fmt: skip
                [(list_id,)] = setup.gateway.sql(
                    "SELECT id FROM subscriber_lists WHERE hash = ?", setup.lists[name]
                )
                user_id = accounts[owner].user_id
                asyncio.run(_add_segment(gateway, user_id, list_id, group))
                setup.groups[f"{name}-a"] = group
            yield setup
    pages.shutdown()


def test_create_with_defaults_and_with_everything(setup: Setup) -> None:
    plain = setup.create()
    assert len(plain) == 10
    stored = setup.campaign(plain)
    [(news_id,)] = setup.gateway.sql(
        "SELECT id FROM subscriber_lists WHERE hash = ?", setup.lists["news"]
    )
    [(deals_id,)] = setup.gateway.sql(
        "SELECT id FROM subscriber_lists WHERE hash = ?", setup.lists["deals"]
    )
    [(group_id,)] = setup.gateway.sql(
        "SELECT id FROM segments WHERE hash = ?", setup.groups["news-a"]
    )
    assert {k: stored[k] for k in ("name", "status", "subject", "from_email", "html")} == {
        "name": "Spring",
        "status": "Draft",
        "subject": "Spring",  # the name when there is no subject
        "from_email": f"noreply@{DOMAIN}",
        "html": "<p>Hi $$email$$</p>",
    }
    full = setup.create(
        name="Summer", url=f"{setup.pages}/page.html", text="Plain $$email$$", subject="Hot",
        from_address=f"news@{DOMAIN}", from_name="The News", reply_to="answers@example.org",
        list=[setup.lists["news"], setup.lists["deals"]], group=setup.groups["news-a"],
        resignlink="https://example.org/bye",
    )  # fmt: skip
    stored = setup.campaign(full)
    assert {k: stored[k] for k in ("subject", "from_email", "from_name", "reply_to", "text",
                                   "content_url")} == {
        "subject": "Hot", "from_email": f"news@{DOMAIN}", "from_name": "The News",
        "reply_to": "answers@example.org", "text": "Plain $$email$$",
        "content_url": f"{setup.pages}/page.html",
    }  # fmt: skip
    assert json.loads(stored["audience"])["lists"] == [
        {"list_id": news_id, "segment_id": None},
        {"list_id": deals_id, "segment_id": None},
        {"list_id": news_id, "segment_id": group_id},
    ]
    only_group = setup.create(list=None, group=[setup.groups["news-a"]])
    assert json.loads(setup.campaign(only_group)["audience"])["lists"] == [
        {"list_id": news_id, "segment_id": group_id}
    ]


def test_create_errors(setup: Setup) -> None:
    path = "/rest/campaigns/create"
    before = setup.gateway.sql("SELECT count(*) FROM campaigns")
    base = {"name": "N", "html": "<p>x</p>", "list": setup.lists["news"]}
    lists, groups = setup.lists, setup.groups
    cases: list[tuple[dict[str, Any], int]] = [
        ({"html": "<p>x</p>", "list": lists["news"]}, 1701),
        ({**base, "name": " "}, 1701),
        ({"name": "N", "list": lists["news"]}, 1702),
        ({**base, "html": "", "text": ""}, 1702),
        ({**base, "url": "ftp://example.org/page"}, 1703),
        ({**base, "url": f"{setup.pages}/missing.html"}, 1703),
        ({**base, "from_address": "not an address"}, 1706),
        ({**base, "from_address": f"news@{OTHER}"}, 1706),  # another account's domain
        ({**base, "from_address": "news@unknown.test"}, 1706),
        ({**base, "reply_to": "nope@"}, 1707),
        ({"name": "N", "html": "<p>x</p>"}, 1708),
        ({**base, "list": "bad hash!"}, 1709),
        ({**base, "list": [lists["news"], {"x": 1}]}, 1709),
        ({**base, "group": "short"}, 1710),
        ({**base, "list": "zzzzzzzzzz"}, 1711),
        ({**base, "list": lists["theirs"]}, 1711),  # another account's list
        ({**base, "list": groups["news-a"]}, 1711),  # a group given as a list
        ({**base, "group": "zzzzzzzzzz"}, 1712),
        ({**base, "group": groups["theirs-a"]}, 1712),
        ({**base, "group": lists["news"]}, 1712),  # a list given as a group
        ({**base, "resignlink": "ftp://example.org/bye"}, 1713),
        ({**base, "resignlink": "not a link"}, 1713),
        ({**base, "subject": "s" * 999}, 1704),
    ]
    for data, code in cases:
        assert setup.rest.error(path, data) == (400, [code]), data
    assert setup.rest.error(path) == (400, [1705])
    assert setup.gateway.sql("SELECT count(*) FROM campaigns") == before  # nothing half made


def test_edit(setup: Setup) -> None:
    campaign_hash = setup.create(name="Draft to edit")
    edit = "/rest/campaigns/edit"
    setup.rest.ok(edit, {"id_hash": campaign_hash, "name": "Edited", "subject": "New subject",
                         "text": "Now text", "list": setup.lists["deals"]})  # fmt: skip
    stored = setup.campaign(campaign_hash)
    [(deals_id,)] = setup.gateway.sql(
        "SELECT id FROM subscriber_lists WHERE hash = ?", setup.lists["deals"]
    )
    assert (stored["name"], stored["subject"], stored["text"]) == (
        "Edited",
        "New subject",
        "Now text",
    )
    assert stored["html"] == "<p>Hi $$email$$</p>"  # not given: kept
    assert (
        stored["audience"].count("list_id") == 1 and f'"list_id": {deals_id}' in stored["audience"]
    )
    setup.rest.ok(edit, {"id_hash": campaign_hash, "url": f"{setup.pages}/page.html"})
    assert setup.campaign(campaign_hash)["content_url"] == f"{setup.pages}/page.html"
    setup.rest.ok(edit, {"id_hash": campaign_hash, "text": "Text only"})
    assert setup.campaign(campaign_hash)["content_url"] == f"{setup.pages}/page.html"
    setup.rest.ok(edit, {"id_hash": campaign_hash, "html": "<p>Own HTML</p>"})
    stored = setup.campaign(campaign_hash)
    assert (stored["content_url"], stored["html"]) == (None, "<p>Own HTML</p>")
    assert setup.rest.error(edit, {"id_hash": "zzzzzzzzzz", "name": "x"}) == (400, [1750])
    assert setup.rest.error(edit, {"name": "x"}) == (400, [1750])
    assert setup.other.error(edit, {"id_hash": campaign_hash, "name": "x"}) == (400, [1750])
    cases: list[tuple[dict[str, Any], int]] = [
        ({"name": ""}, 1701),
        ({"url": "x"}, 1703),
        ({"reply_to": "@"}, 1707),
        ({"list": "zzzzzzzzzz"}, 1711),
        ({"group": setup.lists["news"]}, 1712),
    ]
    for data, code in cases:
        assert setup.rest.error(edit, {"id_hash": campaign_hash, **data}) == (400, [code]), data
    setup.gateway.sql("UPDATE campaigns SET status = 'Sent' WHERE hash = ?", campaign_hash)
    assert setup.rest.error(edit, {"id_hash": campaign_hash, "name": "x"}) == (400, [1751])


def test_delete(setup: Setup) -> None:
    campaign_hash = setup.create(name="To delete")
    delete = "/rest/campaigns/delete"
    assert setup.other.error(delete, {"hash": campaign_hash}) == (400, [1724])
    setup.rest.ok(delete, {"hash": campaign_hash})
    assert setup.campaign(campaign_hash)["deleted_at"] is not None
    assert setup.rest.error(delete, {"hash": campaign_hash}) == (400, [1798])
    assert setup.rest.error(delete, {"hash": "zzzzzzzzzz"}) == (400, [1724])
    assert setup.rest.error(delete, {}) == (400, [1724])
    assert setup.rest.error("/rest/campaigns/edit", {"id_hash": campaign_hash}) == (400, [1750])


def received(setup: Setup, recipient: str) -> EmailMessage:
    [found] = wait_until(lambda: setup.sink.transactions_to(recipient))
    message = email.message_from_bytes(found.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_send_test_copies_and_errors(setup: Setup) -> None:
    campaign_hash = setup.create(name="Tested", subject="Hello $$name$$")
    path = "/rest/campaigns/sendTest"
    setup.rest.ok(path, {"hash": campaign_hash, "emails": ["t1@inbox.test", "t2@inbox.test"],
                         "custom_fields": {"name": "John"}})  # fmt: skip
    for recipient in ("t1@inbox.test", "t2@inbox.test"):
        message = received(setup, recipient)
        assert message["Subject"] == "[TEST] Hello John"
        body = message.get_body(("html",))
        assert body is not None and f"Hi {recipient}" in body.get_content()
    setup.rest.ok(path, {"hash": campaign_hash, "emails": "t3@inbox.test"})
    assert received(setup, "t3@inbox.test")["Subject"] == "[TEST] Hello"
    cases: list[tuple[dict[str, Any], int]] = [
        ({"emails": "t@inbox.test"}, 1721),
        ({"hash": "bad!", "emails": "t@inbox.test"}, 1721),
        ({"hash": campaign_hash}, 1722),
        ({"hash": campaign_hash, "emails": []}, 1722),
        ({"hash": campaign_hash, "emails": ["t@inbox.test", "wrong"]}, 1723),
        ({"hash": campaign_hash, "emails": [f"t{n}@inbox.test" for n in range(11)]}, 1723),
        ({"hash": "zzzzzzzzzz", "emails": "t@inbox.test"}, 1724),
    ]
    for data, code in cases:
        assert setup.rest.error(path, data) == (400, [code]), data
    assert setup.other.error(path, {"hash": campaign_hash, "emails": "t@x.test"}) == (400, [1724])
    # The bare account has no sender domain: its campaign has no usable From.
    bare_list = setup.bare.ok("/rest/subscribers_list/create", {"name": "bare"})["hash"]
    not_ready = setup.create(setup.bare, list=bare_list)
    assert setup.bare.error(path, {"hash": not_ready, "emails": "t@x.test"}) == (400, [1725])
    setup.rest.ok("/rest/subscriber/addBlocks", {"emails": ["blocked@inbox.test"]})
    blocked = {"hash": campaign_hash, "emails": ["blocked@inbox.test"]}
    assert setup.rest.error(path, blocked) == (400, [1726])


def test_send_at_a_time_and_now(setup: Setup) -> None:
    path = "/rest/campaigns/send"
    later = setup.create(name="Later")
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    setup.rest.ok(path, {"hash": later, "time": at.strftime("%Y-%m-%d %H:%M:%S")})
    stored = setup.campaign(later)
    assert stored["status"] == "Scheduled"
    assert stored["send_at"].startswith(at.strftime("%Y-%m-%d %H:%M:%S"))
    assert setup.rest.error(path, {"hash": later}) == (400, [1736])
    setup.rest.ok("/rest/campaigns/edit", {"id_hash": later, "subject": "Still editable"})

    now = setup.create(name="Now")
    setup.rest.ok(path, {"hash": now})
    assert setup.campaign(now)["status"] in ("Ready", "Sending", "Sent")
    assert setup.rest.error(path, {"hash": now}) == (400, [1736])

    fresh = setup.create(name="Fresh")
    past = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    cases: list[tuple[dict[str, Any], int]] = [
        ({}, 1731),
        ({"hash": "bad!"}, 1731),
        ({"hash": fresh, "time": "2031-13-01 10:00:00"}, 1732),
        ({"hash": fresh, "time": "tomorrow"}, 1732),
        ({"hash": fresh, "time": "2031-01-01T10:00:00"}, 1732),
        ({"hash": fresh, "time": past}, 1733),
        ({"hash": "zzzzzzzzzz"}, 1734),
    ]
    for data, code in cases:
        assert setup.rest.error(path, data) == (400, [code]), data
    assert setup.other.error(path, {"hash": fresh}) == (400, [1734])
    assert setup.campaign(fresh)["status"] == "Draft"
    bare_list = setup.bare.ok("/rest/subscribers_list/create", {"name": "bare 2"})["hash"]
    not_ready = setup.create(setup.bare, list=bare_list)
    assert setup.bare.error(path, {"hash": not_ready}) == (400, [1735])


def test_sent_campaign_reaches_subscribers_and_reports(setup: Setup) -> None:
    """End to end: subscribers of the list receive the campaign sent now; the reports and the
    subscriber's history count the delivery."""
    shop = setup.rest.ok("/rest/subscribers_list/create", {"name": "shop"})["hash"]
    for address in ("Ann@Readers.test", "bob@readers.test"):
        setup.rest.ok("/rest/subscriber/add", {"email": address, "list": shop, "state": 1})
    campaign_hash = setup.create(name="Weekly", subject="Weekly news", list=shop)
    setup.rest.ok("/rest/campaigns/send", {"hash": campaign_hash})
    for recipient in ("ann@readers.test", "bob@readers.test"):
        assert received(setup, recipient)["Subject"] == "Weekly news"

    def report() -> dict[str, Any] | None:
        found = setup.rest.get(f"/rest/reports/campaign/{campaign_hash}").json()["data"]
        return found if found["delivered"] == 2 else None

    assert wait_until(report)["subscribers"] == 2
    sent = setup.rest.get("/rest/reports/campaignsList").json()["data"]
    assert sent[0]["id_hash"] == campaign_hash and sent[0]["subscribers"] == 2
    history = setup.rest.ok("/rest/subscriber/getHistory", {"email": "ann@readers.test",
                                                             "list": shop})  # fmt: skip
    assert [(h["name"], h["email_topic"], h["state"]) for h in history] == [
        ("Weekly", "Weekly news", "DELIVERED")
    ]
