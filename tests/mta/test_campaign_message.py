"""A campaign run's message: built once from the campaign's email (merge tags as placeholders,
Google Analytics parameters, tracking and List-Unsubscribe), queued by the gateway's queue
writer on a real database, then delivered by a real delivery worker to a sink MX, where each
recipient's copy is read back: its values in Subject, To, HTML and text, properly encoded,
its own tracking tokens, and a DKIM signature that verifies. Test sends go through the
submission path. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import dkim
import pytest
from aiohttp import web
from sqlalchemy import insert, select, update

from dns_tools.records import dkim_txt
from dns_tools.routing import Router
from mta.campaigns.message import (
    CampaignContentError,
    build_run_message,
    from_problem,
    send_test,
    with_analytics,
)
from mta.checked_http import HttpOptions, HttpSender
from mta.outbound.delivery import DeliveryOptions, DeliveryWorker
from mta.outbound.sessions import SessionOptions, SessionPool
from mta.submission.submit import Gateway
from mta.tracking.rewrite import TrackingSettings
from mta.tracking.tokens import Purpose, read_link_part, read_recipient_token, tracking_key
from storage.accounts import create_user
from storage.domains import (
    DomainChanges,
    SenderContext,
    add_domain,
    set_domain_status,
    update_domain,
)
from storage.engine import Database
from storage.models import (
    Campaign,
    CampaignEmail,
    Delivery,
    DeliveryStatus,
    DomainStatus,
    ListField,
    Message,
    MessageTag,
    SenderDomain,
    Subscriber,
    SubscriberList,
    SubscriberState,
    UserStatus,
    utcnow,
)
from storage.queue import QueueWriter
from storage.suppressions import add_suppression
from tests.conftest import async_wait_until, free_port
from tests.mta.sink import Received, Sink
from tests.mta.support import parsed as parse_raw

KEY = tracking_key(b"c" * 32)
TRACKING = TrackingSettings(KEY, "http://gateway.test:8080", "links", "bounces")
DOMAIN = "news.test"
BASE = f"http://links.{DOMAIN}:8080"
PLACEHOLDER = re.compile(rb"mgm[0-9a-f]{16}|mgt[ocu][0-9a-f]{28}")  # merge, tracking


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


@dataclass
class World:
    db: Database
    gw: Gateway
    sink: Sink
    user_id: int
    domain: SenderDomain

    async def sql(self, statement: Any) -> None:
        await self.db.write(lambda conn: conn.execute(statement))

    async def new_id(self, statement: Any) -> int:
        return int(await self.db.write(lambda conn: conn.execute(statement).scalar_one()))

    async def new_list(self, tags: list[str]) -> int:
        list_id = await self.new_id(
            insert(SubscriberList)
            .values(user_id=self.user_id, hash=secrets.token_hex(8), name="News")
            .returning(SubscriberList.id)
        )
        for tag in tags:
            await self.sql(
                insert(ListField).values(
                    list_id=list_id, hash=secrets.token_hex(8), name=tag, tag=tag
                )
            )
        return list_id

    async def subscribe(
        self, list_id: int, email_address: str, state: int = SubscriberState.ACTIVE, **fields: str
    ) -> int:
        statement = (
            insert(Subscriber)
            .values(list_id=list_id, email=email_address, state=state, custom_fields=fields)
            .returning(Subscriber.id)
        )
        return await self.new_id(statement)

    async def campaign(self, **email_fields: Any) -> int:
        """A campaign of the world's user with an email from `news@news.test` unless told."""
        extra = {k: email_fields.pop(k) for k in ("name", "google_analytics_domains", "tags",
                                                   "audience") if k in email_fields}  # fmt: skip
        values = {"subject": "Hello", "from_name": "News", "from_email": f"news@{DOMAIN}",
                  "html": "<p>Hi</p>", **email_fields}  # fmt: skip
        email_id = await self.new_id(
            insert(CampaignEmail).values(user_id=self.user_id, **values).returning(CampaignEmail.id)
        )
        statement = (
            insert(Campaign)
            .values(
                user_id=self.user_id,
                hash=secrets.token_hex(8),
                email_id=email_id,
                **{"name": "Spring sale", **extra},
            )
            .returning(Campaign.id)
        )
        return await self.new_id(statement)

    async def run(self, campaign_id: int, people: dict[str, int]) -> tuple[uuid.UUID, dict]:
        """Build and queue the run's message, queue `people` ({address: subscriber id}) as the
        run's deliveries, deliver them to the sink; ({address: delivery id}, message id)."""
        message = await build_run_message(self.gw, campaign_id)
        await self.gw.writer.enqueue(message)
        now = utcnow()
        rows = [
            {"message_id": message.id, "recipient": address, "subscriber_id": subscriber,
             "recipient_domain": address.rpartition("@")[2], "status": DeliveryStatus.QUEUED,
             "attempts": 0, "next_attempt_at": now, "created_at": now}
            for address, subscriber in people.items()
        ]  # fmt: skip
        await self.db.write(lambda conn: conn.execute(insert(Delivery), rows))
        await self.deliver(message.id, len(rows))
        found = await self.db.rows(
            select(Delivery.recipient, Delivery.id).where(Delivery.message_id == message.id)
        )
        return message.id, dict(found)

    async def deliver(self, message_id: uuid.UUID, count: int) -> None:
        options = DeliveryOptions(
            hostname="mx.mailgate.test", return_path_subdomain="bounces",
            retry_schedule=(1.0,), max_lifetime=60, concurrency=4, rate_per_minute=0,
            poll_interval=0.02, tracking_key=KEY,
        )  # fmt: skip
        router = Router({"*": ("127.0.0.1", self.sink.port)}, [])
        worker = DeliveryWorker(self.db, router, SessionPool(SessionOptions("mx.test"), 5), options)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))

        async def delivered() -> bool:
            statement = select(Delivery.status).where(Delivery.message_id == message_id)
            statuses = [row[0] for row in await self.db.rows(statement)]
            return len(statuses) == count and all(s == DeliveryStatus.DELIVERED for s in statuses)

        try:
            await async_wait_until(delivered, timeout=30)
        finally:
            stop.set()
            await running

    def received(self, address: str) -> EmailMessage:
        [transaction] = self.sink.transactions_to(address)
        return parsed(transaction)

    def dkim_ok(self, address: str) -> bool:
        [transaction] = self.sink.transactions_to(address)
        name = f"{self.domain.dkim_selector}._domainkey.{DOMAIN}"
        record = dkim_txt(self.domain.dkim_private_key).encode()

        def dns(asked: bytes, timeout: float = 5) -> bytes | None:
            return record if asked.decode().rstrip(".") == name else None

        return bool(dkim.verify(transaction.content, dnsfunc=dns))


def parsed(transaction: Received | bytes) -> EmailMessage:
    return parse_raw(transaction if isinstance(transaction, bytes) else transaction.content)


def part(message: EmailMessage, kind: str) -> str:
    found = next(p for p in message.walk() if p.get_content_type() == kind)
    return str(found.get_content())


def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def world(db: Database, sink: Sink) -> AsyncIterator[World]:
    user = await create_user(db, f"owner-{unique()}@{DOMAIN}")
    domain = await add_domain(db, user.user_id, DOMAIN, "bounces")
    await set_domain_status(db, domain.id, DomainStatus.ENABLED)
    tracked = DomainChanges(link_tracking=True, open_tracking=True)
    await update_domain(db, domain.id, user.user_id, tracked, "bounces")
    writer = QueueWriter(db)
    writer.start()
    gw = Gateway(db, writer, "mx.mailgate.test", 30, tracking=TRACKING)
    try:
        yield World(db, gw, sink, user.user_id, domain)
    finally:
        await writer.close()


ZOE = "Zoë Łukasiewicz-Straße"
LONG = ("Ünïcödé and a quite long value, " * 7).strip()  # ~220 characters


async def test_each_copy_carries_its_recipients_values_in_every_part(world: World) -> None:
    list_id = await world.new_list(["name", "city"])
    ann, zoe, long_one = (f"ok-{who}-{unique()}@dest.example" for who in ("ann", "zoe", "long"))
    people = {
        ann: await world.subscribe(list_id, ann, name="Ann", city="Oslo"),
        zoe: await world.subscribe(list_id, zoe, name=ZOE, city="<script>alert(1)</script>"),
        long_one: await world.subscribe(list_id, long_one, name=LONG),
    }
    campaign_id = await world.campaign(
        subject="Hello $$Name$$ in $$city$$",
        html="<html><body><p>Dear $$name$$ from $$CITY$$ ($$email$$)$$nothing$$.</p>"
        '<p><a href="https://shop.example/sale">Sale</a></p></body></html>',
        text="Dear $$name$$ from $$city$$, write to $$email$$.",
        audience={"lists": [{"list_id": list_id, "segment_id": None}]},
    )
    message_id, deliveries = await world.run(campaign_id, people)

    first = world.received(ann)
    assert first["Subject"] == "Hello Ann in Oslo"
    assert first["To"] == ann
    assert "Dear Ann from Oslo (" + ann + ")." in part(first, "text/html")
    assert part(first, "text/plain").strip() == f"Dear Ann from Oslo, write to {ann}."

    second = world.received(zoe)
    assert second["Subject"] == f"Hello {ZOE} in <script>alert(1)</script>"
    [raw_second] = world.sink.transactions_to(zoe)
    subject_field = re.search(rb"\r\nSubject: (.*?)\r\n(?! )", raw_second.content, re.S)
    assert subject_field and subject_field[1].isascii() and b"=?utf-8?" in subject_field[1]
    html_text = part(second, "text/html")
    assert f"Dear {ZOE} from &lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "<script>" not in html_text
    assert f"from <script>alert(1)</script>, write to {zoe}" in part(second, "text/plain")

    third = world.received(long_one)
    assert third["Subject"] == f"Hello {LONG} in "
    assert f"Dear {LONG} from  (" in part(third, "text/html")
    for address in people:
        [transaction] = world.sink.transactions_to(address)
        body = transaction.content.split(b"\r\n\r\n", 1)[1]
        assert all(len(line) <= 76 for line in body.split(b"\r\n")), address
        assert not PLACEHOLDER.search(transaction.content) and b"$$" not in transaction.content
        assert b"X-Mailgate" not in transaction.content
        assert world.dkim_ok(address)
        # Tracking: the open pixel and the unsubscribe link name this recipient's delivery.
        page = part(world.received(address), "text/html")
        pixel = re.search(rf'{BASE}/t/o/(\w+)"', page)
        assert pixel and read_recipient_token(KEY, Purpose.OPEN, pixel[1]) == deliveries[address]
        click = re.search(rf"{BASE}/t/c/(\w+)\.([\w-]+)", page)
        assert click and read_recipient_token(KEY, Purpose.CLICK, click[1]) == deliveries[address]
        assert read_link_part(KEY, message_id, click[2]) == "https://shop.example/sale"
        unsubscribe = world.received(address)["List-Unsubscribe"]
        token = re.search(rf"<{BASE}/u/(\w+)>", unsubscribe)
        assert (
            token
            and read_recipient_token(KEY, Purpose.UNSUBSCRIBE, token[1]) == deliveries[address]
        )


async def test_the_stored_message_is_one_unsigned_template_with_no_recipients(
    world: World,
) -> None:
    campaign_id = await world.campaign(subject="Plain", tags=["spring", "sale"])
    message = await build_run_message(world.gw, campaign_id)
    await world.gw.writer.enqueue(message)
    row = (await world.db.rows(select(Message).where(Message.id == message.id)))[0]
    assert row.campaign_id == campaign_id and row.source == "campaign"
    assert row.recipient_count == 0 and row.subject == "Plain"
    tags = await world.db.rows(select(MessageTag.tag).where(MessageTag.message_id == message.id))
    assert sorted(t for (t,) in tags) == ["sale", "spring"]
    assert not await world.db.rows(select(Delivery.id).where(Delivery.message_id == message.id))
    assert message.raw.startswith(b"X-Mailgate-Personalise: ")
    assert b"DKIM-Signature" not in message.raw


async def test_a_message_with_no_tags_and_no_tracking_is_still_addressed_to_each_recipient(
    world: World,
) -> None:
    plain = Gateway(world.db, world.gw.writer, "mx.mailgate.test", 30, tracking=None)
    world.gw = plain
    list_id = await world.new_list([])
    address = f"ok-plain-{unique()}@dest.example"
    people = {address: await world.subscribe(list_id, address)}
    campaign_id = await world.campaign(subject="No tags", html="", text="Just text.")
    await world.run(campaign_id, people)
    received = world.received(address)
    assert received["To"] == address and received["Subject"] == "No tags"
    assert part(received, "text/plain").strip() == "Just text."
    assert world.dkim_ok(address)


def test_analytics_parameters_go_only_on_links_to_the_listed_domains() -> None:
    page = (
        '<a href="https://shop.example/a">1</a>'
        '<a href="http://www.shop.example/b?x=1&amp;y=2#top">2</a>'
        '<a href="https://other.example/c">3</a>'
        '<a href="https://shop.example/d?utm_source=news">4</a>'
        '<a href="mailto:x@shop.example">5</a>'
        '<a href="https://notshop.example/e">6</a>'
    )
    rewritten = with_analytics(page, "Spring sale & more", ["Shop.example"])
    links = [html.unescape(u) for u in re.findall(r'href="([^"]*)"', rewritten)]
    utm = "utm_source=mailgate&utm_medium=email&utm_campaign=Spring%20sale%20%26%20more"
    assert links == [
        f"https://shop.example/a?{utm}",
        f"http://www.shop.example/b?x=1&y=2&{utm}#top",
        "https://other.example/c",
        "https://shop.example/d?utm_source=news&utm_medium=email"
        "&utm_campaign=Spring%20sale%20%26%20more",
        "mailto:x@shop.example",
        "https://notshop.example/e",
    ]
    assert with_analytics(page, "x", []) == page


async def test_analytics_parameters_reach_the_click_redirect(world: World) -> None:
    campaign_id = await world.campaign(
        html='<p><a href="https://shop.example/sale">Sale</a>'
        '<a href="https://elsewhere.example/">Away</a>'
        '<a href="https://shop.example/u?e=$$email$$">Mine</a></p>',
        google_analytics_domains=["shop.example"],
        name="Spring",
    )
    message = await build_run_message(world.gw, campaign_id)
    stored = parsed(message.raw.split(b"\r\n", 2)[2])
    page = part(stored, "text/html")
    targets = [
        read_link_part(KEY, message.id, link)
        for link in re.findall(rf"{BASE}/t/c/mgtc\w+\.([\w-]+)", page)
    ]
    utm = "utm_source=mailgate&utm_medium=email&utm_campaign=Spring"
    assert targets == [f"https://shop.example/sale?{utm}", "https://elsewhere.example/"]
    # A link with a merge tag is personalised where it stands, so it is not click-tracked.
    assert re.search(r'href="https://shop\.example/u\?e=mgm\w+&amp;utm_source=mailgate', page)


class ContentServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.pages = {
            "/page.html": ("<html><body><p>Fetched for $$name$$</p></body></html>", 200),
            "/big.html": ("x" * (2 * 1024 * 1024 + 1), 200),
            "/gone.html": ("", 404),
        }

    async def handle(self, request: web.Request) -> web.Response:
        text, status = self.pages[request.path]
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    async def __aenter__(self) -> ContentServer:
        app = web.Application()
        app.router.add_get("/{name}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


async def test_html_is_fetched_from_the_content_url(world: World) -> None:
    list_id = await world.new_list(["name"])
    address = f"ok-fetch-{unique()}@dest.example"
    people = {address: await world.subscribe(list_id, address, name="Ann")}
    http = HttpSender(HttpOptions(allow_private=True))
    async with ContentServer() as server:
        campaign_id = await world.campaign(html="", content_url=server.url("/page.html"))
        message = await build_run_message(world.gw, campaign_id, http=http)
        await world.gw.writer.enqueue(message)
        now = utcnow()
        await world.sql(
            insert(Delivery).values(
                message_id=message.id, recipient=address, subscriber_id=people[address],
                recipient_domain="dest.example", status=DeliveryStatus.QUEUED, attempts=0,
                next_attempt_at=now, created_at=now,
            )
        )  # fmt: skip
        await world.deliver(message.id, 1)
        assert "<p>Fetched for Ann</p>" in part(world.received(address), "text/html")

        for path, reason in (("/big.html", "more than"), ("/gone.html", "answered 404")):
            failing = await world.campaign(html="", content_url=server.url(path))
            with pytest.raises(CampaignContentError, match=reason):
                await build_run_message(world.gw, failing, http=http)
        # Without a sender that allows them, loopback addresses are refused.
        private = await world.campaign(html="", content_url=server.url("/page.html"))
        with pytest.raises(CampaignContentError, match="refused"):
            await build_run_message(world.gw, private)
    await http.close()


async def test_the_from_address_must_be_on_an_enabled_domain_of_the_campaigns_user(
    world: World,
) -> None:
    other = await create_user(world.db, f"other-{unique()}@other.test")
    foreign = await add_domain(world.db, other.user_id, f"d{unique()}.test", "bounces")
    await set_domain_status(world.db, foreign.id, DomainStatus.ENABLED)
    cases = {
        f"news@{foreign.name}": "not a sender domain of the account",
        "news@unknown.test": "Invalid sender domain",
        "not an address": "is invalid",
    }
    for address, reason in cases.items():
        campaign_id = await world.campaign(from_email=address)
        with pytest.raises(CampaignContentError, match=reason):
            await build_run_message(world.gw, campaign_id)
    await world.sql(
        update(SenderDomain).where(SenderDomain.id == world.domain.id).values(status="Disabled")
    )
    world.gw.senders.clear()
    campaign_id = await world.campaign()
    with pytest.raises(CampaignContentError, match="not active"):
        await build_run_message(world.gw, campaign_id)


async def test_a_subdomain_of_the_users_domain_may_send(world: World) -> None:
    campaign_id = await world.campaign(from_email=f"news@mail.{DOMAIN}")
    message = await build_run_message(world.gw, campaign_id)
    assert message.sender_domain_id == world.domain.id


async def test_test_sends_are_personalised_marked_and_not_the_campaigns(world: World) -> None:
    list_id = await world.new_list(["name"])
    sampled = f"sampled-{unique()}@dest.example"
    await world.subscribe(list_id, f"gone-{unique()}@dest.example", SubscriberState.RESIGNED,
                          name="Gone")  # fmt: skip
    await world.subscribe(list_id, sampled, name="Sample")
    campaign_id = await world.campaign(
        subject="Hello $$name$$",
        html="<p>Dear $$name$$ ($$email$$)</p>",
        audience={"lists": [{"list_id": list_id, "segment_id": None}]},
    )
    given, sample, blocked = (f"ok-{w}-{unique()}@dest.example" for w in ("t1", "t2", "no"))
    await add_suppression(world.db, blocked, "manual", "test", user_id=world.user_id)
    sent = await send_test(world.gw, campaign_id, [given, blocked], {"Name": "<b>Tester</b>"})
    assert list(sent.sent) == [given] and sent.suppressed == [blocked]
    sampled_send = await send_test(world.gw, campaign_id, [sample], None)
    for message_id, count in ((sent.sent[given], 1), (sampled_send.sent[sample], 1)):
        await world.deliver(message_id, count)
        [row] = await world.db.rows(select(Message).where(Message.id == message_id))
        assert row.campaign_id is None and row.source == "campaign-test"
        tags = await world.db.rows(select(MessageTag.tag).where(MessageTag.message_id == row.id))
        assert [t for (t,) in tags] == ["test"]
    first = world.received(given)
    assert first["Subject"] == "[TEST] Hello <b>Tester</b>" and first["To"] == given
    assert f"Dear &lt;b&gt;Tester&lt;/b&gt; ({given})" in part(first, "text/html")
    second = world.received(sample)
    assert second["Subject"] == "[TEST] Hello Sample"
    assert f"Dear Sample ({sampled})" in part(second, "text/html")
    assert world.dkim_ok(given)
    with pytest.raises(CampaignContentError, match="invalid"):
        await send_test(world.gw, campaign_id, ["nobody"], {})


def _sender(domain: str, user_id: int) -> SenderContext:
    return SenderContext(
        1, domain, DomainStatus.APPROVAL_PENDING, user_id, UserStatus.ACTIVE, True, "s", "k"
    )


@pytest.mark.parametrize(
    ("sender", "address", "problem"),
    [
        (_sender("shop.test", 7), "news@shop.test", None),
        (_sender("shop.test", 7), "news@mail.shop.test", None),  # a subdomain
        (_sender("shop.test", 7), "News@SHOP.Test", None),
        (None, "news@nobody.test", "nobody.test is not a registered sender domain"),
        (_sender("theirs.test", 8), "news@theirs.test", "theirs.test is not a sender domain"),
        (_sender("shop.test", 7), "news@notshop.test", "news@notshop.test is not within"),
    ],
)
def test_from_problem(sender: SenderContext | None, address: str, problem: str | None) -> None:
    """The one rule of a campaign's From (whose domain status is campaign_sender's business)."""
    found = from_problem(sender, 7, address)
    assert (found is None) if problem is None else (found or "").startswith(problem)
