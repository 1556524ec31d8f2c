"""`POST /rest/mail` over real HTTP against `mailgate serve`: mail delivered to a sink MX,
DKIM-signed, with attachments fetched from a local HTTP server, in ISO-8859-2 when asked,
tracked through a rebranding domain; and every error code 1201-1213, 1250, 1251."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dkim
import pytest

from tests.conftest import Gateway, free_port, make_gateway, wait_until
from tests.http_api.conftest import RestClient, serving
from tests.mta.conftest import DnsRecord, Sender, add_sender
from tests.mta.sink import Sink
from tests.mta.support import parsed

PATH = "/rest/mail"
DOMAIN, BRAND, OTHER, LIMITED = "mail.test", "brand.test", "other.test", "limited.test"
PENDING = "pending.test"  # added, never enabled
MAX_MESSAGE_SIZE = 1_000_000
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 100  # 25.6 KB, binary
LIMIT = 512 * 1024


class Files(BaseHTTPRequestHandler):
    """The attachment server: /report.pdf, /named (Content-Disposition), /half (exactly half of
    the limit), /endless (a body that never ends), /moved (a redirect), anything else 404."""

    def do_GET(self) -> None:
        if self.path == "/endless":
            return self._endless()
        found: dict[str, tuple[bytes, dict[str, str]]] = {
            "/files/report.pdf": (PDF, {"Content-Type": "application/pdf"}),
            "/named": (
                b"name,value\r\n",
                {"Content-Type": "text/csv", "Content-Disposition": 'attachment; filename="a.csv"'},
            ),
            "/half": (b"h" * (LIMIT // 2), {"Content-Type": "application/octet-stream"}),
            "/moved": (b"", {"Location": "/files/report.pdf"}),
        }
        if self.path not in found:
            self.send_error(404)
            return None
        body, headers = found[self.path]
        self.send_response(302 if self.path == "/moved" else 200)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        return None

    def _endless(self) -> None:
        """No Content-Length, no end: only a reader that stops at its limit gets an answer."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"x" * 65536)
        except OSError:
            return

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Setup:
    gateway: Gateway
    sink: Sink
    rest: RestClient
    other: RestClient
    limited: RestClient
    bare: RestClient  # an account without sender domains
    sender: Sender
    brand: Sender
    user_id: int
    files: str

    def send(self, **fields: Any) -> str:
        data = {"subject": "Hello", "text": "Hello.", **fields}
        return str(self.rest.ok(PATH, data)["message_id"])

    def error(self, client: RestClient | None = None, **fields: Any) -> tuple[int, list[int]]:
        data = {"subscriber": "ok-r@example.org", "subject": "Hi", "text": "Hi.", **fields}
        return (client or self.rest).error(PATH, data)


def _client(client: Any, made: dict[str, Any]) -> RestClient:
    return RestClient(client, made["RestApiKey"], made["RestApiSecret"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    files = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=files.serve_forever, args=(0.02,), daemon=True).start()
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("rest-mail"),
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_ALLOW_PRIVATE_TARGETS="1",  # the attachment server is on loopback
            MAILGATE_MAX_MESSAGE_SIZE=str(MAX_MESSAGE_SIZE),
        )
        users = {
            name: gateway.json("user", "add", f"{name}@users.test")
            for name in ("owner", "other", "limited", "bare")
        }
        user_id = int(users["owner"]["UserID"])
        sender = add_sender(gateway, user_id, DOMAIN)
        brand = add_sender(gateway, user_id, BRAND)
        gateway.json("domain", "add", PENDING, "--user", str(user_id))
        add_sender(gateway, int(users["other"]["UserID"]), OTHER)
        add_sender(gateway, int(users["limited"]["UserID"]), LIMITED)
        gateway.cli("user", "limits", str(users["limited"]["UserID"]), "--daily", "1")
        with serving(gateway) as client:
            made = {name: _client(client, user) for name, user in users.items()}
            yield Setup(
                gateway, sink, made["owner"], made["other"], made["limited"], made["bare"],
                sender, brand, user_id, f"http://127.0.0.1:{files.server_address[1]}",
            )  # fmt: skip
    files.shutdown()


def delivered(setup: Setup, recipient: str) -> bytes:
    found = wait_until(lambda: setup.sink.transactions_to(recipient))
    assert found
    return bytes(found[0].content)


def attachments(raw: bytes) -> list[EmailMessage]:
    return [part for part in parsed(raw).iter_attachments() if isinstance(part, EmailMessage)]


def test_a_mail_arrives_signed_in_iso_8859_2_with_its_attachments_tracked_and_tagged(
    setup: Setup,
) -> None:
    html = '<p>Zażółć gęślą jaźń</p><a href="https://shop.example/x">Sklep</a>'
    message_id = setup.send(
        subscriber="ok-full@example.org",
        subject="Żółta łódź",
        html=html,
        text="Zażółć gęślą jaźń",
        **{"from": f"shop@{DOMAIN}", "from_name": "Sklep Łódź"},
        reply_to="help@example.org",
        encoding="ISO-8859-2",
        attachments=[f"{setup.files}/files/report.pdf", f"{setup.files}/named"],
        tracking=1,
        domain=BRAND,
        tag="Reminder mails",
    )
    raw = delivered(setup, "ok-full@example.org")
    assert dkim.verify(raw, dnsfunc=DnsRecord(setup.sender))
    message = parsed(raw)
    assert str(message["From"]) == f"Sklep Łódź <shop@{DOMAIN}>"
    assert b"=?iso-8859-2?" in raw.split(b"\r\n\r\n", 1)[0]  # subject and name in the charset
    assert str(message["Subject"]) == "Żółta łódź" and str(message["Reply-To"]) == (
        "help@example.org"
    )
    text, page = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and page is not None
    for part in (text, page):
        assert part.get_content_charset() == "iso-8859-2"
    assert text.get_payload(decode=True) == "Zażółć gęślą jaźń".encode("iso-8859-2")
    port = setup.gateway.env["MAILGATE_HTTP_PORT"]
    assert f'href="http://links.{BRAND}:{port}/t/c/' in str(page.get_content())
    assert f'<img src="http://links.{BRAND}:{port}/t/o/' in str(page.get_content())
    found = [(a.get_filename(), a.get_content_type(), a.get_content()) for a in attachments(raw)]
    assert found == [
        ("report.pdf", "application/pdf", PDF),
        ("a.csv", "text/csv", "name,value\r\n"),
    ]
    [(tags,)] = setup.gateway.sql(
        "SELECT tags FROM messages WHERE id = ?", message_id.replace("-", "")
    )
    assert json.loads(tags) == ["Reminder mails"]


def test_defaults_noreply_at_the_first_domain_utf_8_untracked(setup: Setup) -> None:
    html = '<p>Zażółć €</p><a href="https://shop.example/x">Shop</a>'
    setup.send(subscriber="ok-plain@example.org", html=html, text="€ 1")
    raw = delivered(setup, "ok-plain@example.org")
    assert dkim.verify(raw, dnsfunc=DnsRecord(setup.sender))
    message = parsed(raw)
    assert str(message["From"]) == f"noreply@{DOMAIN}" and message["Reply-To"] is None
    page = message.get_body(("html",))
    assert page is not None and page.get_content_charset() == "utf-8"
    assert str(page.get_content()) == html  # tracking 0 by default: links as written
    assert list(message.iter_attachments()) == []


def test_form_data_with_php_bracket_names(setup: Setup) -> None:
    pairs = [
        ("subscriber", "ok-form@example.org"), ("subject", "Form"), ("text", "Body"),
        ("attachments[]", f"{setup.files}/named"), ("tracking", "0"), ("tag", "confirmation"),
    ]  # fmt: skip
    answer = setup.rest.post_form(PATH, pairs)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["message_id"]
    message = parsed(delivered(setup, "ok-form@example.org"))
    assert [a.get_filename() for a in message.iter_attachments()] == ["a.csv"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"subscriber": ""}, 1201),
        ({"subscriber": "not an address"}, 1201),
        ({"subject": "  "}, 1202),
        ({"subject": "two\r\nBcc: x@example.org"}, 1202),
        ({"text": "", "html": ""}, 1203),
        ({"text": None}, 1203),
        ({"reply_to": "nobody@"}, 1204),
        ({"from": "bad address"}, 1205),
        ({"from": f"x@{OTHER}"}, 1205),  # another account's domain
        ({"from": f"x@{PENDING}"}, 1205),  # not enabled
        ({"from": "x@unknown.test"}, 1205),
        ({"from_name": ""}, 1206),
        ({"from_name": "  "}, 1206),
        ({"encoding": "windows-1250"}, 1208),
        ({"encoding": "iso-8859-2", "text": "Price: 5 €"}, 1208),  # no € in ISO-8859-2
        ({"encoding": "iso-8859-2", "subject": "€"}, 1208),
        ({"attachments": "ftp://127.0.0.1/file"}, 1209),
        ({"attachments": "http://"}, 1209),
        ({"attachments": [["nested"]]}, 1209),
        ({"attachments": ["http://127.0.0.1:1/x"] * 11}, 1209),  # more than 10 links
        ({"tracking": 1, "domain": OTHER}, 1212),
        ({"tracking": 1, "domain": PENDING}, 1212),
        ({"tracking": 1, "domain": f"sub.{BRAND}"}, 1212),
        ({"tag": "x" * 129}, 1213),
        ({"tag": "line\nbreak"}, 1213),
        ({"tag": ["a", "b"]}, 1213),
        ({"tracking": "yes"}, 1002),  # the protocol's code for a malformed request
    ],
)
def test_a_faulty_request_answers_its_code(setup: Setup, fields: dict[str, Any], code: int) -> None:
    assert setup.error(**fields) == (400, [code])


def test_no_sender_domain_is_1205_and_a_tag_of_128_is_fine(setup: Setup) -> None:
    assert setup.error(setup.bare) == (400, [1205])
    assert setup.send(subscriber="ok-tag@example.org", tag="t" * 128)
    # The rebranding domain is read only when tracking is on.
    assert setup.send(subscriber="ok-notrack@example.org", tracking=0, domain=OTHER)


def test_missing_or_unreachable_attachments_are_1210(setup: Setup) -> None:
    for link in (f"{setup.files}/nothing.pdf", f"{setup.files}/moved"):
        assert setup.error(attachments=link) == (400, [1210]), link
    assert setup.error(attachments=f"http://127.0.0.1:{free_port()}/file") == (400, [1210])


def test_attachments_past_half_a_megabyte_together_are_1211_read_no_further(setup: Setup) -> None:
    half = f"{setup.files}/half"
    assert setup.send(subscriber="ok-half@example.org", attachments=[half])
    assert setup.error(attachments=[half, half, f"{setup.files}/named"]) == (400, [1211])
    assert setup.error(attachments=f"{setup.files}/endless") == (400, [1211])


def test_the_daily_limit_is_1207(setup: Setup) -> None:
    first = setup.limited.ok(PATH, {"subscriber": "ok-l1@example.org", "subject": "a", "text": "b"})
    assert first["message_id"]
    assert setup.error(setup.limited, subscriber="ok-l2@example.org") == (400, [1207])


def test_a_suppressed_subscriber_is_1251(setup: Setup) -> None:
    setup.gateway.sql(
        "INSERT INTO suppressions (address, scope, user_id, reason, source, created_at)"
        " VALUES ('ok-blocked@example.org', 'account', ?, 'manual', 'test', CURRENT_TIMESTAMP)",
        setup.user_id,
    )
    assert setup.error(subscriber="ok-blocked@example.org") == (400, [1251])
    assert setup.other.ok(
        PATH, {"subscriber": "ok-blocked@example.org", "subject": "a", "text": "b"}
    )  # another account may still write to that address


def test_a_message_over_the_size_limit_or_one_the_queue_refuses_is_1250(setup: Setup) -> None:
    assert setup.error(html="<p>" + "x" * MAX_MESSAGE_SIZE + "</p>") == (400, [1250])
    if setup.gateway.on_sqlite:
        create = [
            "CREATE TRIGGER refuse_mail BEFORE INSERT ON messages WHEN NEW.subject = 'Refuse me'"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
        drop = ["DROP TRIGGER refuse_mail"]
    else:
        create = [
            "CREATE FUNCTION refuse_mail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.subject = 'Refuse me' THEN RAISE EXCEPTION 'refused by the test'; END IF;"
            " RETURN NEW; END $$",
            "CREATE TRIGGER refuse_mail BEFORE INSERT ON messages FOR EACH ROW"
            " EXECUTE FUNCTION refuse_mail()",
        ]
        drop = ["DROP TRIGGER refuse_mail ON messages", "DROP FUNCTION refuse_mail"]
    for statement in create:
        setup.gateway.sql(statement)
    try:
        assert setup.error(subject="Refuse me") == (503, [1250])
    finally:
        for statement in drop:
            setup.gateway.sql(statement)
    assert setup.send(subscriber="ok-after@example.org", subject="Refuse me")


def test_the_size_limit_is_the_submission_paths(setup: Setup) -> None:
    """The message's size is checked by submit, and its refusal answered through this action's
    table: 1250, naming the limit."""
    data = {"subscriber": "ok-r@example.org", "subject": "Hi", "html": "x" * MAX_MESSAGE_SIZE}
    answer = setup.rest.post(PATH, data)
    [error] = answer.json()["errors"]
    assert error["code"] == 1250
    assert error["message"].startswith("System error, mail not sent: ")
    assert error["message"].endswith(f"octets, at most {MAX_MESSAGE_SIZE}")
