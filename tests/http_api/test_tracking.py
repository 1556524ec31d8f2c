"""Open and click tracking and unsubscribe, end to end: mail sent through /api/v1/email and
SMTP to a running gateway, delivered to a sink MX, its tracking URLs followed over real HTTP,
its unsubscribe address written to over real SMTP."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import dkim
import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import Gateway, make_gateway, wait_until
from tests.http_api.conftest import fetch_tracking_url, serving
from tests.mta.conftest import DnsRecord, Sender, add_sender
from tests.mta.sink import Sink
from tests.mta.support import expect, logged_in, parsed, queued_id, send
from tests.mta.test_webhooks import Receiver, serve_receiver

DOMAIN = "tracking.test"
PLAIN_DOMAIN = "untracked.test"  # the defaults: links and opens tracked, no List-Unsubscribe
HTML = (
    "<html><body><p>Hello &amp; welcome.</p>\r\n"
    '<a href="https://shop.example/item?id=7&amp;ref=mail">Buy</a>\r\n'
    "<a href='http://news.example/'>News</a> <a href=\"mailto:help@tracking.test\">Help</a>\r\n"
    '<a href="#top">Top</a></body></html>'
)


@dataclass
class Setup:
    gateway: Gateway
    client: httpx.Client
    sink: Sink
    sender: Sender
    plain: Sender
    user_key: str
    key: str = ""  # the domain's /api/v1 key
    plain_key: str = ""

    def send(self, to: str, domain: str = DOMAIN, **fields: Any) -> str:
        body = {
            "Subject": "Tracked",
            "ContentType": "html",
            "HTMLContent": HTML,
            "PlainContent": "Hello.",
            "From": {"name": "App", "email": f"app@{domain}"},
            "To": [{"name": "Reader", "email": to}],
            **fields,
        }
        key = self.key if domain == DOMAIN else self.plain_key
        answer = self.client.post(
            "/api/v1/email", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["MessageID"])

    def events(self, kind: str, recipient: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self.gateway.sql(
            "SELECT message_id, data FROM events WHERE type = ? AND recipient = ? ORDER BY id",
            kind,
            recipient,
        )
        return [(message_id, json.loads(data)) for message_id, data in rows]

    def fetch(self, url: str, method: str = "GET", **options: Any) -> httpx.Response:
        return fetch_tracking_url(self.client, url, method, **options)

    def smtp(self) -> contextlib.AbstractContextManager[smtplib.SMTP]:
        """A session on the submission port, logged in with the domain's credential."""
        port = self.gateway.ports["submission"]
        return logged_in(port, self.sender.username, self.sender.password)

    def api(self, command: str, **params: Any) -> dict[str, Any]:
        body = {"Command": command, "APIKey": self.user_key, **params}
        return dict(self.client.post("/api.php", json=body).json())


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("tracking"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_ALLOW_PRIVATE_TARGETS="1",  # the webhook receiver is on loopback
        )
        user = gateway.json("user", "add", f"owner@{DOMAIN}")
        sender = add_sender(gateway, int(user["UserID"]), DOMAIN)
        plain = add_sender(gateway, int(user["UserID"]), PLAIN_DOMAIN)
        with serving(gateway) as client:
            made = Setup(gateway, client, sink, sender, plain, user["APIKey"])
            changed = made.api(
                "emailgateway.updatedomain", DomainID=sender.domain_id, UnsubscribeLink=1
            )
            assert changed["Success"] is True
            made.key, made.plain_key = (
                str(
                    made.api("emailgateway.addapi", DomainID=domain, Description="t")["APIKey"][
                        "APIKey"
                    ]
                )
                for domain in (sender.domain_id, plain.domain_id)
            )
            yield made


def delivered(setup: Setup, recipient: str, count: int = 1) -> list[bytes]:
    found = wait_until(lambda: len(setup.sink.transactions_to(recipient)) >= count and True)
    assert found
    return [t.content for t in setup.sink.transactions_to(recipient)]


def html_of(raw: bytes) -> str:
    body = parsed(raw).get_body(("html",))
    assert body is not None
    return str(body.get_content())


def links(html: str) -> list[str]:
    return re.findall(r"""href=["']([^"']+)["']""", html)


def signed_fields(raw: bytes) -> list[str]:
    signature = parsed(raw)["DKIM-Signature"]
    tags = dict(part.strip().split("=", 1) for part in str(signature).split(";") if "=" in part)
    return [name.strip().lower() for name in re.sub(r"\s", "", tags["h"]).split(":")]


def tampered(token: str, at: int) -> str:
    return token[:at] + ("b" if token[at] != "b" else "c") + token[at + 1 :]


def test_links_pixel_and_headers_are_added_and_the_signature_verifies(setup: Setup) -> None:
    message_id = setup.send("ok-reader@example.org")
    [raw] = delivered(setup, "ok-reader@example.org")
    assert dkim.verify(raw, dnsfunc=DnsRecord(setup.sender))
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(signed_fields(raw))
    assert raw.count(b"DKIM-Signature:") == 1
    assert b"X-Mailgate-Personalise" not in raw and b"mgt" not in raw

    html = html_of(raw)
    found = links(html)
    base = f"http://links.{DOMAIN}:{setup.gateway.env['MAILGATE_HTTP_PORT']}"
    assert [link.startswith(f"{base}/t/c/") for link in found] == [True] * 2 + [False] * 3
    assert found[2:4] == ["mailto:help@tracking.test", "#top"]
    assert found[4].startswith(f"{base}/u/")  # UnsubscribeLink: a footer, as the HTML had no tag
    assert f'<img src="{base}/t/o/' in html and html.index("<img") < html.index("</body>")
    # Everything else is as it was written.
    assert re.sub(r"""(href|src)=["'][^"']*["']""", "", html).startswith(
        "<html><body><p>Hello &amp; welcome.</p>"
    )
    headers = parsed(raw)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(headers["List-Unsubscribe"])
    assert f"<{found[4]}>" in unsubscribe and f"@{setup.sender.return_path}>" in unsubscribe

    pixel = re.search(r'<img src="([^"]+)"', html)
    assert pixel is not None
    opened = setup.fetch(pixel.group(1))
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    assert opened.content.startswith(b"GIF89a") and "no-store" in opened.headers["cache-control"]
    [(about, data)] = setup.events("opened", "ok-reader@example.org")
    assert about == message_id.replace("-", "")
    assert data["user_agent"] == "TestMail/1.0" and data["ip"] == "127.0.0.1"

    clicked = setup.fetch(found[0])
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://shop.example/item?id=7&ref=mail"
    assert setup.fetch(found[1]).headers["location"] == "http://news.example/"
    clicks = setup.events("clicked", "ok-reader@example.org")
    assert [data["link"] for _, data in clicks] == [
        "https://shop.example/item?id=7&ref=mail",
        "http://news.example/",
    ]
    setup.fetch(pixel.group(1))  # a second open: two in total, one unique

    stats = setup.api("emailgateway.domainstats", DomainID=setup.sender.domain_id)["Stats"]
    assert (stats["Opened"], stats["UniqueOpened"]) == (2, 1)
    assert (stats["Clicked"], stats["UniqueClicked"]) == (2, 1)
    buckets = setup.api("emailgateway.aggrevents", DomainID=setup.sender.domain_id)["AggBuckets"]
    assert {"key": "open", "doc_count": 2, "unique_count": 1} in buckets
    assert {"key": "click", "doc_count": 2, "unique_count": 1} in buckets
    listed = setup.api(
        "emailgateway.getevents",
        DomainID=setup.sender.domain_id,
        StartFrom=0,
        RetrieveCount=10,
        Event="click",
    )
    assert listed["TotalRecords"] == 2 and listed["Events"][0]["url"] == "http://news.example/"


def test_a_tampered_or_foreign_token_is_404_and_records_nothing(setup: Setup) -> None:
    setup.send("ok-tamper@example.org")
    [raw] = delivered(setup, "ok-tamper@example.org")
    html = html_of(raw)
    click = links(html)[0]
    pixel = re.search(r'<img src="([^"]+)"', html)
    assert pixel is not None
    head, _, token = click.rpartition("/")
    recipient_part, link = token.split(".")
    forged = [
        f"{head}/{tampered(recipient_part, 20)}.{link}",  # another signature
        f"{head}/{recipient_part}.{tampered(link, 3)}",  # another link
        f"{head}/{recipient_part}",  # no link
        pixel.group(1).replace("/t/o/", "/t/c/"),  # an open token as a click
        tampered(pixel.group(1), -5),
        pixel.group(1).replace("/t/o/", "/u/"),  # an open token as an unsubscribe
    ]
    for url in forged:
        assert setup.fetch(url).status_code == 404, url
    assert setup.fetch(forged[-1], "POST", content=b"List-Unsubscribe=One-Click").status_code == 404
    for kind in ("opened", "clicked", "unsubscribed"):
        assert setup.events(kind, "ok-tamper@example.org") == []


def list_unsubscribe(setup: Setup, reader: str, scheme: str) -> str:
    """The URL (or the mailto address) of List-Unsubscribe in a message sent to `reader`."""
    setup.send(reader)
    [raw] = delivered(setup, reader)
    found = re.search(f"<{scheme}([^>]+)>", str(parsed(raw)["List-Unsubscribe"]))
    assert found is not None
    return found.group(1) if scheme == "mailto:" else scheme + found.group(1)


def test_one_click_unsubscribe_suppresses_and_the_next_send_is_refused(setup: Setup) -> None:
    reader = "ok-leaving@example.org"
    url = list_unsubscribe(setup, reader, "http")
    page = setup.fetch(url)
    assert page.status_code == 200 and '<form method="post">' in page.text and reader in page.text
    assert setup.events("unsubscribed", reader) == []  # a visit alone does not unsubscribe

    answer = setup.fetch(
        url,
        "POST",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    [(_, data)] = setup.events("unsubscribed", reader)
    assert data["source"] == "one-click"
    assert setup.gateway.sql(
        "SELECT scope, reason FROM suppressions WHERE address = ?", reader
    ) == [("domain", "unsubscribed")]
    again = setup.fetch(url, "POST", content=b"List-Unsubscribe=One-Click")
    assert again.status_code == 200 and len(setup.events("unsubscribed", reader)) == 1

    refused = setup.client.post(
        "/api/v1/email",
        json={
            "Subject": "Again",
            "ContentType": "plain",
            "PlainContent": "Hello again.",
            "From": {"email": f"app@{DOMAIN}"},
            "To": [{"email": reader}],
        },
        headers={"Authorization": f"Bearer {setup.key}"},
    )
    assert refused.status_code == 422 and refused.json()["Errors"][0]["Code"] == 14
    with setup.smtp() as smtp:
        expect(smtp.mail(f"app@{DOMAIN}"), "250")
        expect(smtp.rcpt(reader), "550 5.7.1")


def test_mail_to_the_unsubscribe_address_unsubscribes(setup: Setup) -> None:
    reader = "ok-mailto@example.org"
    address = list_unsubscribe(setup, reader, "mailto:")
    assert address.startswith("unsubscribe+") and address.endswith(setup.sender.return_path)
    request = f"From: {reader}\r\nTo: {address}\r\nSubject: unsubscribe\r\n\r\nPlease stop.\r\n"
    with smtplib.SMTP("127.0.0.1", setup.gateway.ports["smtp"], timeout=15) as smtp:
        smtp.sendmail(reader, [address], request.encode())
    [(_, data)] = wait_until(lambda: setup.events("unsubscribed", reader))
    assert data["source"] == "mailto"
    assert setup.gateway.sql("SELECT reason FROM suppressions WHERE address = ?", reader) == [
        ("unsubscribed",)
    ]


def smtp_message(recipients: list[str]) -> bytes:
    """A message as a mail client writes it: its HTML part in base64."""
    message = MIMEMultipart("alternative")
    message["From"] = f"app@{DOMAIN}"
    message["To"] = ", ".join(recipients)
    message["Subject"] = "Over SMTP"
    message.attach(MIMEText("Hello.", "plain", "utf-8"))
    message.attach(MIMEText(HTML, "html", "utf-8"))  # utf-8 text: base64
    return message.as_bytes(policy=email.policy.SMTP)


def test_over_smtp_each_recipient_gets_its_own_signed_copy(setup: Setup) -> None:
    recipients = ["ok-one@dest.example", "ok-two@dest.example"]
    with setup.smtp() as smtp:
        queued_id(send(smtp, f"app@{DOMAIN}", smtp_message(recipients), recipients))
    copies = [delivered(setup, recipient)[0] for recipient in recipients]
    for copy in copies:
        assert dkim.verify(copy, dnsfunc=DnsRecord(setup.sender))
        assert parsed(copy).get_body(("html",))["Content-Transfer-Encoding"] == "quoted-printable"
    first, second = (links(html_of(copy))[0] for copy in copies)
    assert first != second
    assert setup.fetch(second).headers["location"] == "https://shop.example/item?id=7&ref=mail"
    assert len(setup.events("clicked", "ok-two@dest.example")) == 1
    assert setup.events("clicked", "ok-one@dest.example") == []


@pytest.mark.parametrize(
    ("fields", "recipient"),
    [
        ({"ContentType": "plain"}, "ok-text@example.org"),  # nothing to track
        ({"TrackLinks": False, "TrackOpens": "0"}, "ok-optout@example.org"),  # the message says no
    ],
)
def test_a_message_without_tracking_is_signed_once_and_sent_as_stored(
    setup: Setup, fields: dict[str, Any], recipient: str
) -> None:
    message_id = setup.send(recipient, PLAIN_DOMAIN, **fields)
    [raw] = delivered(setup, recipient)
    [(stored,)] = setup.gateway.sql(
        "SELECT raw FROM messages WHERE id = ?", message_id.replace("-", "")
    )
    # Signed at submission, sent byte for byte (SMTP ends DATA with a line break).
    assert raw == bytes(stored) + (b"" if bytes(stored).endswith(b"\r\n") else b"\r\n")
    assert raw.startswith(b"DKIM-Signature:") and raw.count(b"DKIM-Signature:") == 1
    assert b"X-Mailgate-Personalise" not in raw and b"/t/" not in raw
    assert dkim.verify(raw, dnsfunc=DnsRecord(setup.plain))
    assert parsed(raw)["List-Unsubscribe"] is None


def test_track_links_and_opens_false_keep_the_domains_list_unsubscribe(setup: Setup) -> None:
    setup.send("ok-headers-only@example.org", TrackLinks="false", TrackOpens=False)
    [raw] = delivered(setup, "ok-headers-only@example.org")
    html = html_of(raw)
    assert "<img" not in html and "/t/c/" not in html and "shop.example/item" in html
    assert parsed(raw)["List-Unsubscribe"] is not None
    assert dkim.verify(raw, dnsfunc=DnsRecord(setup.sender))


def test_opens_clicks_and_unsubscribes_reach_the_webhooks_signed(setup: Setup) -> None:
    receiver = Receiver()
    server = serve_receiver(receiver)
    hooks = []
    try:
        for event in ("open", "click", "unsubscribe"):
            added = setup.api(
                "emailgateway.addwebhook",
                DomainID=setup.sender.domain_id,
                Event=event,
                WebhookURL=receiver.url(f"/{event}"),
            )
            assert added["Success"] is True, added
            hooks.append(added["NewWebhookID"])
        key = setup.api("emailgateway.getwebhooks", DomainID=setup.sender.domain_id)["SigningKey"]
        reader = "ok-hooked@example.org"
        message_id = setup.send(reader, Tags=["spring"])
        [raw] = delivered(setup, reader)
        found = links(html_of(raw))
        pixel = re.search(r'<img src="([^"]+)"', html_of(raw))
        assert pixel is not None
        setup.fetch(pixel.group(1))
        setup.fetch(found[0])
        setup.fetch(found[4], "POST", content=b"List-Unsubscribe=One-Click")

        for path, name, legacy in (
            ("/open", "opened", "open"),
            ("/click", "clicked", "click"),
            ("/unsubscribe", "unsubscribed", "unsubscribe"),
        ):
            [call] = wait_until(lambda path=path: receiver.to(path), timeout=30)
            payload = Webhook(key).verify(call.body, call.headers)
            assert (payload["event"], payload["legacy_event"]) == (name, legacy)
            assert payload["recipient"] == reader and payload["message_id"] == message_id
            assert payload["tags"] == ["spring"]
            assert payload["details"]["user_agent"] == "TestMail/1.0"
        [click] = receiver.to("/click")
        assert click.json["link"] == "https://shop.example/item?id=7&ref=mail"
    finally:
        for hook in hooks:
            setup.api("emailgateway.deletewebhook", DomainID=setup.sender.domain_id, WebhookID=hook)
        server.shutdown()


def test_an_unsubscribe_makes_the_senders_subscribers_resigned(setup: Setup) -> None:
    """003's subscriber state 4 (resigned) follows an unsubscribe, on the sender's lists (other
    accounts' lists are left alone: tests/storage/test_subscriber_states.py)."""
    reader = "ok-resigning@example.org"
    [(owner,)] = setup.gateway.sql(
        "SELECT user_id FROM sender_domains WHERE id = ?", setup.sender.domain_id
    )
    setup.gateway.sql(
        "INSERT INTO subscriber_lists (user_id, hash, name, description, created_at) "
        "VALUES (?, 'resigning1', 'News', '', '2026-01-01 00:00:00')",
        owner,
    )
    setup.gateway.sql(
        "INSERT INTO subscribers (list_id, email, state, custom_fields, created_at) "
        "SELECT id, ?, 1, '{}', '2026-01-01 00:00:00' FROM subscriber_lists "
        "WHERE hash = 'resigning1'",
        reader,
    )
    url = list_unsubscribe(setup, reader, "http")
    answer = setup.fetch(url, "POST", content=b"List-Unsubscribe=One-Click")
    assert answer.status_code == 200
    assert setup.gateway.sql("SELECT state FROM subscribers WHERE email = ?", reader) == [(4,)]
