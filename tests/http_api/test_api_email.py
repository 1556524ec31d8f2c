"""`POST /api/v1/email` against a running gateway that delivers to a sink MX: the message built,
signed, queued and delivered; every documented error code."""

from __future__ import annotations

import base64
import email
import email.policy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import httpx
import pytest

from tests.conftest import STORES, Gateway, make_gateway, on_store, wait_until
from tests.http_api.conftest import RestClient, serving
from tests.mta.conftest import DnsRecord, Sender, add_sender
from tests.mta.sink import Sink
from tests.mta.support import expect, logged_in, message, send

DOMAIN = "mail-api.test"
RATE_LIMIT = 300


@dataclass
class Mail:
    gateway: Gateway
    client: httpx.Client
    sink: Sink
    sender: Sender
    user_id: int
    user_key: str
    key: str  # the sender domain's eg_live_ key
    rest: RestClient  # the owner's /rest client

    def send(self, key: str | None = None, **fields: Any) -> httpx.Response:
        body = {
            "Subject": "Welcome",
            "ContentType": "html",
            "HTMLContent": "<p>Welcome!</p>",
            "From": {"name": "App", "email": f"app@{DOMAIN}"},
            "To": [{"name": "Jane", "email": "ok-jane@example.org"}],
        }
        body.update(fields)
        body = {name: value for name, value in body.items() if value is not None}
        headers = {"Authorization": f"Bearer {self.key if key is None else key}"}
        return self.client.post("/api/v1/email", json=body, headers=headers)

    def domain_key(self, domain_id: int, user_key: str | None = None) -> str:
        answer = self.client.post(
            "/api.php",
            json={
                "Command": "emailgateway.addapi",
                "APIKey": user_key or self.user_key,
                "Description": "tests",
                "DomainID": domain_id,
            },
        ).json()
        return str(answer["APIKey"]["APIKey"])


def running_mail(tmp: Path, store: str) -> Iterator[Mail]:
    with Sink() as sink:
        gateway = make_gateway(
            tmp,
            store=store,
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_API_RATE_LIMIT=f"{RATE_LIMIT}/60",
            MAILGATE_MAX_MESSAGE_SIZE=str(200_000),
            MAILGATE_MAX_RECIPIENTS="5",
        )
        user = gateway.json("user", "add", f"owner@{DOMAIN}")
        sender = add_sender(gateway, int(user["UserID"]), DOMAIN)
        with serving(gateway) as client:
            rest = RestClient(client, user["RestApiKey"], user["RestApiSecret"])
            setup = Mail(gateway, client, sink, sender, user["UserID"], user["APIKey"], "", rest)
            setup.key = setup.domain_key(sender.domain_id)
            yield setup


@pytest.fixture(scope="module")
def module_mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mail]:
    yield from running_mail(tmp_path_factory.mktemp("email"), "")


@pytest.fixture(scope="module")
def postgresql_mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mail]:
    yield from running_mail(tmp_path_factory.mktemp("email-pg"), "postgresql")


@pytest.fixture
def mail(request: pytest.FixtureRequest) -> Mail:
    """The module's gateway; for a test parametrised over STORES, the one on PostgreSQL too."""
    found: Mail = on_store(request, "mail")
    return found


def delivered(mail: Mail, recipient: str) -> EmailMessage:
    [received] = wait_until(lambda: mail.sink.transactions_to(recipient), timeout=30)
    parsed = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize("mail", STORES, indirect=True)
def test_a_full_message_arrives_intact_and_signed(mail: Mail) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 20
    logo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    answer = mail.send(
        Subject="Grüße, Jane",
        HTMLContent='<h1>Welcome!</h1><img src="cid:logo">',
        PlainContent="Welcome!",
        From={"name": "Zoë App", "email": f"app@{DOMAIN}"},
        To=[{"name": "Jane Smith", "email": "ok-jane@example.org"}],
        CC=[{"name": "Carl", "email": "ok-carl@example.org"}],
        BCC=[{"name": "Bea", "email": "ok-bea@example.org"}],
        ReplyTo=[{"name": "Support", "email": f"help@{DOMAIN}"}],
        Headers={"X-Campaign": "spring", "List-Id": "<news.mail-api.test>"},
        Tags=["welcome", "onboarding"],
        Attachments=[
            {"filename": "terms.pdf", "content": base64.b64encode(pdf).decode()},
            {
                "filename": "logo.png",
                "content": base64.b64encode(logo).decode(),
                "type": "image/png",
                "disposition": "inline",
                "contentid": "logo",
            },
        ],
    )
    assert answer.status_code == 200, answer.text
    message_id = answer.json()["MessageID"]
    assert set(answer.json()) == {"MessageID"}

    jane = delivered(mail, "ok-jane@example.org")
    for copy in ("ok-carl@example.org", "ok-bea@example.org"):
        assert delivered(mail, copy)["Subject"] == "Grüße, Jane"
    [raw] = [r.content for r in mail.sink.transactions_to("ok-jane@example.org")]
    assert dkim.verify(raw, dnsfunc=DnsRecord(mail.sender))
    assert jane["From"].addresses[0].display_name == "Zoë App"
    assert str(jane["To"]) == "Jane Smith <ok-jane@example.org>"
    assert str(jane["Cc"]) == "Carl <ok-carl@example.org>"
    assert jane["Bcc"] is None and b"ok-bea" not in raw.split(b"\r\n\r\n", 1)[0]
    assert str(jane["Reply-To"]) == f"Support <help@{DOMAIN}>"
    assert jane["X-Campaign"] == "spring"
    assert jane["Message-ID"] and jane["Date"]
    body = jane.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Welcome!"
    html = jane.get_body(("html",))
    assert html is not None and "<h1>Welcome!</h1>" in html.get_content()
    parts = {part.get_filename(): part for part in jane.walk() if part.get_filename()}
    assert parts["terms.pdf"].get_content() == pdf
    assert parts["logo.png"].get_content() == logo
    assert parts["logo.png"]["Content-ID"] == "<logo>"
    stored = message_id.replace("-", "")  # the store's UUIDs as 32 hex digits (Gateway.sql)
    tags = mail.gateway.sql(
        "SELECT tag FROM message_tags WHERE message_id = ? ORDER BY tag", stored
    )
    assert tags == [("onboarding",), ("welcome",)]


def test_the_spec_example_as_written(mail: Mail) -> None:
    """001's curl example, with only the addresses made ours."""
    answer = mail.client.post(
        "/api/v1/email",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {mail.key}"},
        content=(
            '{"Subject": "Welcome to Our Service", "ContentType": "html",'
            ' "HTMLContent": "<h1>Welcome!</h1><p>Thank you for signing up.</p>",'
            ' "From": {"name": "John Doe", "email": "john@' + DOMAIN + '"},'
            ' "To": [{"name": "Jane Smith", "email": "ok-example@example.org"}]}'
        ),
    )
    assert answer.status_code == 200
    assert len(answer.json()["MessageID"]) == 36
    assert delivered(mail, "ok-example@example.org")["Subject"] == "Welcome to Our Service"


def test_the_access_log_names_the_message_and_never_the_key(mail: Mail) -> None:
    answer = mail.send(To=[person("ok-logged@example.org")])
    message_id = answer.json()["MessageID"]
    line = wait_until(
        lambda: next((x for x in mail.gateway.log().splitlines() if message_id in x), None)
    )
    assert "path=/api/v1/email status=200" in line and "client=127.0.0.1" in line
    assert mail.key not in mail.gateway.log()


def test_004_spellings_and_the_key_in_the_body(mail: Mail) -> None:
    answer = mail.client.post(
        "/api/v1/email",
        json={
            "SenderAPIKey": mail.key,
            "Subject": "Hello World",
            "ContentType": "plain",
            "PlainContent": "Hello, World!",
            "From": {"email": f"sender@{DOMAIN}", "name": "John Doe"},
            "To": {"email": "ok-004@example.org", "name": "Jane Doe"},
        },
    )
    assert answer.status_code == 200, answer.text
    message = delivered(mail, "ok-004@example.org")
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Hello, World!"


def test_send_at_holds_the_message_until_then(mail: Mail) -> None:
    later = int(time.time()) + 3600
    answer = mail.send(To=[{"name": "L", "email": "ok-later@example.org"}], SendAt=later)
    assert answer.status_code == 200
    [(due,)] = mail.gateway.sql(
        "SELECT next_attempt_at FROM deliveries WHERE recipient = ?", "ok-later@example.org"
    )
    assert str(due).startswith(time.strftime("%Y-%m-%d %H", time.gmtime(later)))
    assert mail.sink.transactions_to("ok-later@example.org") == []


@pytest.mark.parametrize("mail", STORES, indirect=True)
def test_suppressed_recipients_are_left_out_and_all_suppressed_is_14(mail: Mail) -> None:
    mail.gateway.sql(
        "INSERT INTO suppressions (address, scope, reason, source, created_at)"
        " VALUES ('ok-gone@example.org', 'global', 'hard bounce', 'test', CURRENT_TIMESTAMP)"
    )
    both = [
        {"name": "Gone", "email": "ok-gone@example.org"},
        {"name": "Here", "email": "ok-here@example.org"},
    ]
    answer = mail.send(To=both)
    assert answer.status_code == 200
    assert answer.json()["SuppressedRecipients"] == ["ok-gone@example.org"]
    delivered(mail, "ok-here@example.org")
    refused = mail.send(To=both[:1])
    assert refused.status_code == 422
    assert refused.json()["Errors"][0]["Code"] == 14


def error(answer: httpx.Response) -> tuple[int, int | None]:
    """The status and the error code; None for an answer without errors."""
    errors = answer.json().get("Errors") or [{}]
    return answer.status_code, errors[0].get("Code")


def person(address: str) -> dict[str, str]:
    return {"name": "Someone", "email": address}


SIX = [person(f"ok-{n}@example.org") for n in range(6)]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"From": None}, (400, 3)),
        ({"From": "app@mail-api.test"}, (400, 3)),
        ({"From": {"name": "No address"}}, (400, 3)),
        ({"From": person("app@elsewhere.example")}, (400, 3)),
        ({"From": person("not an address")}, (400, 23)),
        ({"Subject": None}, (400, 8)),
        ({"Subject": "  "}, (400, 8)),
        ({"To": None}, (400, 8)),
        ({"ContentType": None}, (400, 9)),
        ({"ContentType": "xml"}, (400, 9)),
        ({"HTMLContent": None}, (400, 10)),
        ({"ContentType": "plain"}, (400, 11)),
        ({"TemplateID": 7}, (400, 15)),
        ({"TargetListID": 7}, (400, 16)),
        ({"To": [{"name": "No address"}]}, (400, 18)),
        ({"To": [person("jane@@example.org")]}, (400, 19)),
        ({"To": []}, (400, 20)),
        ({"To": SIX}, (400, 20)),
        ({"To": SIX[:3], "CC": SIX[3:]}, (400, 20)),
        ({"CC": [{"email": ""}]}, (400, 21)),
        ({"CC": [person("carl@")]}, (400, 22)),
        ({"BCC": person("ok-b@example.org")}, (400, 24)),
        ({"BCC": [{"name": "B"}]}, (400, 25)),
        ({"BCC": [person("b.example.org")]}, (400, 26)),
        ({"BCC": SIX}, (400, 27)),
        ({"ReplyTo": person(f"r@{DOMAIN}")}, (400, 28)),
        ({"ReplyTo": [{"name": "R"}]}, (400, 29)),
        ({"ReplyTo": [person("r@")]}, (400, 30)),
        ({"ReplyTo": [person(f"r{n}@{DOMAIN}") for n in range(11)]}, (400, 31)),
        ({"ListID": 3}, (400, 35)),
        ({"SubscriberID": 3}, (400, 36)),
        ({"JourneyID": 3}, (400, 37)),
        ({"ActionID": 3}, (400, 38)),
        ({"Headers": {"Bcc": "spy@example.org"}}, (400, 0)),
        ({"Headers": {"X-Evil": "a\r\nBcc: spy@example.org"}}, (400, 0)),
        ({"Headers": {"Bad Name": "x"}}, (400, 0)),
        ({"Subject": "Hi\r\nBcc: spy@example.org"}, (400, 0)),
        ({"To": [{"name": "J\r\nBcc: spy@example.org", "email": "ok-j@example.org"}]}, (400, 0)),
        ({"Headers": ["X-A: b"]}, (400, 0)),
        ({"Attachments": [{"filename": "a.txt", "content": "%%%"}]}, (400, 0)),
        ({"Attachments": [{"content": "aGk="}]}, (400, 0)),
        ({"Attachments": {"filename": "a.txt"}}, (400, 0)),
        ({"Attachments": [{"filename": "a", "content": "aGk=", "type": "text"}]}, (400, 0)),
        ({"Attachments": [{"filename": "big", "content": "A" * 300_000}]}, (413, 0)),
        ({"SendAt": "tomorrow"}, (400, 0)),
        ({"SendAt": int(time.time()) + 10 * 86400}, (400, 0)),
        ({"TrackLinks": "maybe"}, (400, 0)),
        ({"Tags": [{"a": 1}]}, (400, 0)),
    ],
)
def test_request_errors(mail: Mail, fields: dict[str, Any], expected: tuple[int, int]) -> None:
    assert error(mail.send(**fields)) == expected


def test_nothing_reaches_the_queue_for_refused_requests(mail: Mail) -> None:
    before = mail.gateway.sql("SELECT count(*) FROM messages")
    mail.send(Headers={"X-Evil": "a\r\nBcc: spy@example.org"})
    mail.send(To=[person("jane@@example.org")])
    assert mail.gateway.sql("SELECT count(*) FROM messages") == before


def test_authentication_errors(mail: Mail) -> None:
    no_key = mail.client.post("/api/v1/email", json={"Subject": "x"})
    assert error(no_key) == (401, 1)
    assert error(mail.send(key="eg_live_nonsense")) == (401, 13)
    assert error(mail.send(key=mail.user_key)) == (401, 13)  # a user key is not a domain key


def test_a_request_too_large_is_refused_before_it_is_read(mail: Mail) -> None:
    answer = mail.client.post(
        "/api/v1/email",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={"Authorization": f"Bearer {mail.key}", "Content-Type": "application/json"},
    )
    assert error(answer) == (413, 0)
    headers = {"Authorization": f"Bearer {mail.key}", "Content-Type": "application/json"}
    not_json = mail.client.post("/api/v1/email", content=b"{nope", headers=headers)
    assert error(not_json) == (400, 0)


def test_account_and_domain_states(mail: Mail) -> None:
    user = mail.gateway.json("user", "add", "states@states.test")
    other = add_sender(mail.gateway, int(user["UserID"]), "states.test")
    key = mail.domain_key(other.domain_id, user["APIKey"])
    sender = {"From": person("app@states.test")}
    assert mail.send(key=key, **sender).status_code == 200
    states = [
        ("UPDATE users SET trusted = false", (403, 2)),
        ("UPDATE users SET status = 'deactivated'", (403, 12)),
        ("UPDATE users SET status = 'unverified'", (403, 34)),
    ]
    for change, expected in states:
        mail.gateway.sql(f"{change} WHERE id = ?", user["UserID"])
        assert wait_until(lambda e=expected: error(mail.send(key=key, **sender)) == e, timeout=10)
        mail.gateway.sql(
            "UPDATE users SET status = 'active', trusted = true WHERE id = ?", user["UserID"]
        )
    mail.gateway.json("domain", "disable", str(other.domain_id))
    assert wait_until(lambda: error(mail.send(key=key, **sender)) == (403, 32), timeout=10)


def test_the_sending_limit(mail: Mail) -> None:
    user = mail.gateway.json("user", "add", "limited@limited.test")
    limited = add_sender(mail.gateway, int(user["UserID"]), "limited.test")
    key = mail.domain_key(limited.domain_id, user["APIKey"])
    mail.gateway.json("user", "limits", str(user["UserID"]), "--hourly", "3")
    sender = {"From": person("app@limited.test")}
    two = [person("ok-l1@example.org"), person("ok-l2@example.org")]
    assert wait_until(lambda: mail.send(key=key, To=two, **sender).status_code == 200, timeout=5)
    assert error(mail.send(key=key, To=two, **sender)) == (403, 17)  # 2 + 2 > 3
    assert mail.send(key=key, To=two[:1], **sender).status_code == 200  # 2 + 1 = 3
    assert error(mail.send(key=key, To=two[:1], **sender)) == (403, 17)
    # The limit is the submission path's, so SMTP meets the same one (temporary, 4.7.1).
    port = mail.gateway.ports["submission"]
    with logged_in(port, limited.username, limited.password) as smtp:
        reply = send(smtp, "app@limited.test", message("app@limited.test"), ["ok-l3@example.org"])
        assert expect(reply, "451 4.7.1")
    mail.gateway.json("user", "limits", str(user["UserID"]))  # no limit again
    assert wait_until(lambda: mail.send(key=key, To=two, **sender).status_code == 200, timeout=5)


def test_the_rate_limit(mail: Mail) -> None:
    """RATE_LIMIT requests per key in a window of 60 s, windows aligned to the clock (as the
    limiter's are): the next one is 429. A run that crosses a window's end has the new window's
    requests too before its 429, never fewer than RATE_LIMIT."""
    key = mail.domain_key(mail.sender.domain_id)
    started = time.time()
    statuses = []
    while len(statuses) <= 2 * RATE_LIMIT:
        answer = mail.send(key=key, Subject=None)
        if answer.status_code == 429:
            break
        statuses.append(answer.status_code)
    same_window = int(started // 60) == int(time.time() // 60)
    assert set(statuses) == {400}
    assert (
        len(statuses) == RATE_LIMIT
        if same_window
        else RATE_LIMIT <= len(statuses) <= 2 * RATE_LIMIT
    )
    assert error(answer) == (429, 429)
    assert int(answer.headers["Retry-After"]) > 0


def subscriber_list(mail: Mail, name: str, members: dict[str, int]) -> tuple[int, dict[str, int]]:
    """A /rest list of the owner with `members` (address: state); its id and the members' ids."""
    made = mail.rest.ok("/rest/subscribers_list/create", {"name": name})
    lists = mail.rest.ok("/rest/subscribers_list/lists")
    [listed] = [row for row in lists if row["hash"] == made["hash"]]
    for address, state in members.items():
        mail.rest.ok(
            "/rest/subscriber/add",
            {"email": address, "list": made["hash"], "state": state, "confirm": 0},
        )
    ids = dict(
        mail.gateway.sql("SELECT email, id FROM subscribers WHERE list_id = ?", listed["id"])
    )
    return int(listed["id"]), ids


def test_target_list_sends_to_its_active_subscribers(mail: Mail) -> None:
    members = {"ok-tl1@example.org": 1, "ok-tl2@example.org": 1, "ok-tl3@example.org": 2}
    list_id, ids = subscriber_list(mail, "readers", members)
    answer = mail.send(
        To=None, TargetListID=list_id, ListID=list_id, SubscriberID=ids["ok-tl1@example.org"]
    )
    assert answer.status_code == 200, answer.text
    for address in ("ok-tl1@example.org", "ok-tl2@example.org"):
        assert delivered(mail, address)["To"] == "undisclosed-recipients:;"
    [(recipients,)] = mail.gateway.sql(
        "SELECT recipient_count FROM messages WHERE id = ?",
        answer.json()["MessageID"].replace("-", ""),
    )
    assert recipients == 2  # the subscriber awaiting activation is not sent to


def test_lists_and_subscribers_must_be_the_owners(mail: Mail) -> None:
    list_id, ids = subscriber_list(mail, "owned", {"ok-o1@example.org": 1})
    other_id, other_ids = subscriber_list(mail, "second", {"ok-o2@example.org": 1})
    stranger = mail.gateway.json("user", "add", "stranger@elsewhere.test")
    theirs = RestClient(mail.client, stranger["RestApiKey"], stranger["RestApiSecret"])
    foreign = theirs.ok("/rest/subscribers_list/create", {"name": "theirs"})
    [(foreign_id,)] = mail.gateway.sql(
        "SELECT id FROM subscriber_lists WHERE hash = ?", foreign["hash"]
    )
    assert error(mail.send(TargetListID=foreign_id)) == (400, 16)
    assert error(mail.send(TargetListID="seven")) == (400, 16)
    assert error(mail.send(ListID=foreign_id)) == (400, 35)
    assert error(mail.send(ListID=list_id, SubscriberID=other_ids["ok-o2@example.org"])) == (
        400,
        36,
    )
    assert (
        mail.send(ListID=other_id, SubscriberID=other_ids["ok-o2@example.org"]).status_code == 200
    )
    big, _ = subscriber_list(mail, "big", {f"ok-b{n}@example.org": 1 for n in range(5)})
    assert error(mail.send(TargetListID=big)) == (400, 20)  # 5 + Jane: past MAX_RECIPIENTS
    assert mail.send(To=None, TargetListID=big).status_code == 200
    assert mail.send(ListID=list_id, SubscriberID=ids["ok-o1@example.org"]).status_code == 200


def test_an_internationalized_recipient_is_carried_as_smtputf8(mail: Mail) -> None:
    """A non-ASCII local part in To (`ß@gmail.com` gave an HTTP 500) is carried as RFC 6531 and
    6532 ask, as the large providers take it: in UTF-8 in the header, signed, and delivered to
    the UTF-8 address (mta/outbound/delivery.py asks SMTPUTF8 of a server that offers it)."""
    address = "ok-straße@example.org"
    answer = mail.send(To=[{"name": "Jürgen", "email": address}])
    assert answer.status_code == 200, answer.text
    [received] = wait_until(lambda: mail.sink.transactions_to(address), timeout=30)
    assert received.recipients == (address,) and "SMTPUTF8" in received.mail_options
    assert f"<{address}>".encode() in received.content.split(b"\r\n\r\n", 1)[0]
    assert dkim.verify(received.content, dnsfunc=DnsRecord(mail.sender))
    parsed = email.message_from_string(received.content.decode(), policy=email.policy.default)
    to = parsed["To"].addresses[0]  # an RFC 6532 reader's view: the header read as UTF-8
    assert (to.display_name, to.addr_spec) == ("Jürgen", address)


def test_a_utf8_address_in_a_header_alone_still_asks_for_smtputf8(mail: Mail) -> None:
    """An ASCII envelope with an internationalized Reply-To is an RFC 6532 message all the same:
    its header section is UTF-8, so the transaction asks for SMTPUTF8 (RFC 6531 3.4)."""
    to = "ok-replyto@example.org"
    answer = mail.send(To=[{"email": to}], ReplyTo=[{"email": "jürgen@example.org"}])
    assert answer.status_code == 200, answer.text
    [received] = wait_until(lambda: mail.sink.transactions_to(to), timeout=30)
    assert "jürgen@example.org".encode() in received.content.split(b"\r\n\r\n", 1)[0]
    assert "SMTPUTF8" in received.mail_options


def test_the_size_limit_is_the_submission_paths(mail: Mail) -> None:
    """Fields that pass the request's own bounds but make a message over max_message_size
    (200,000 here) are refused by submit, answered through this route's table."""
    answer = mail.send(HTMLContent="<p>" + "x" * 200_000 + "</p>")
    assert error(answer) == (413, 0)
    message = answer.json()["Errors"][0]["Message"]
    assert message.startswith("The message exceeds the size limit: ") and "200000" in message
