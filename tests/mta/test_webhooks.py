"""Webhooks end to end: real mail delivered to (or bounced by) a sink MX, and an ARF report
arriving on port 25, make events that `mailgate serve` POSTs to a real HTTP receiver on
loopback, signed so that the Standard Webhooks reference verifier accepts them. Retries,
410 Gone, a URL whose DNS answer turned private, and a SIGKILL mid-retry."""

from __future__ import annotations

import json
import signal
import ssl
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import trustme
from standardwebhooks import Webhook

from tests.conftest import Gateway, make_gateway, wait_until
from tests.dns_server import DnsServer
from tests.http_api.conftest import answering
from tests.mta.conftest import Sender, add_sender
from tests.mta.sink import Sink
from tests.mta.support import logged_in, message, queued_id, send
from tests.mta.test_delivery import Setup, submit
from tests.mta.test_inbound_reports import report_from_sample, send_report

DOMAIN = "hooks-mail.test"
# Short waits between attempts: three quick retries, then three that outlast a restart.
SCHEDULE = "0.3,0.3,0.3,3,3,3"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP endpoint on loopback. /ok answers 200; /flaky 503 three times per webhook-id,
    then 200; /gone 410; /down 503 until `healthy` is set; /stall answers 200 only once
    `released` is set."""

    calls: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    healthy: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def status_for(self, received: Received) -> int:
        if received.path == "/flaky":
            tries = sum(
                1 for c in self.calls if c.headers["webhook-id"] == received.headers["webhook-id"]
            )
            return 503 if tries <= 3 else 200
        if received.path == "/gone":
            return 410
        if received.path == "/down" and not self.healthy.is_set():
            return 503
        return 200

    def body_for(self, received: Received) -> bytes:
        return b"ok"

    def to(self, path: str) -> list[Received]:
        with self.lock:
            return [call for call in self.calls if call.path == path]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def serve_receiver(receiver: Receiver, tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with receiver.lock:
                receiver.calls.append(received)
                status = receiver.status_for(received)
                answer = receiver.body_for(received)
                receiver.answered.append(status)
            if self.path == "/stall":
                receiver.released.wait(timeout=60)
            self.send_response(status)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


@dataclass
class Hooks:
    setup: Setup
    receiver: Receiver
    client: httpx.Client
    api_key: str
    signing_key: str

    @property
    def gateway(self) -> Gateway:
        return self.setup.gateway

    def api(self, command: str, **params: Any) -> dict[str, Any]:
        """An /api.php command with the owner's key, about the sender domain unless told."""
        body = {"Command": command, "APIKey": self.api_key, "DomainID": self.setup.sender.domain_id}
        return dict(self.client.post("/api.php", json={**body, **params}).json())

    def add(self, event: str, path: str) -> int:
        answer = self.api(
            "emailgateway.addwebhook", Event=event, WebhookURL=self.receiver.url(path)
        )
        assert answer["Success"] is True, answer
        return int(answer["NewWebhookID"])

    def status(self, *args: str) -> list[dict[str, Any]]:
        lines = self.gateway.cli("webhooks", "status", *args).stdout.splitlines()
        return [json.loads(line) for line in lines]

    def calls(self, webhook_id: int, status: str) -> list[dict[str, Any]]:
        """The webhook's calls, when every one of them has `status`."""
        calls = self.status("--webhook", str(webhook_id))
        return calls if calls and all(call["Status"] == status for call in calls) else []

    def send(self, recipient: str) -> uuid.UUID:
        sender = self.setup.sender
        port = self.gateway.ports["submission"]
        with logged_in(port, sender.username, sender.password) as smtp:
            return queued_id(send(smtp, sender.address, message(sender.address), [recipient]))


def start(gateway: Gateway) -> httpx.Client:
    gateway.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{gateway.env['MAILGATE_HTTP_PORT']}")
    wait_until(lambda: answering(client))
    return client


def signing_key(client: httpx.Client, api_key: str, domain_id: int) -> str:
    body = {"Command": "emailgateway.getwebhooks", "APIKey": api_key, "DomainID": domain_id}
    return str(client.post("/api.php", json=body).json()["SigningKey"])


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooks]:
    receiver = Receiver()
    server = serve_receiver(receiver)
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("hooks"),
            MAILGATE_RELAY_NETWORKS="",  # reports arrive like any mail from the internet
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_ALLOW_PRIVATE_TARGETS="1",
            MAILGATE_WEBHOOK_RETRY_SCHEDULE=SCHEDULE,
            MAILGATE_DELIVERY_LEASE="3s",  # calls leased when the gateway is killed come back soon
        )
        user = gateway.json("user", "add", f"owner@{DOMAIN}")
        sender = add_sender(gateway, int(user["UserID"]), DOMAIN)
        client = start(gateway)
        try:
            key = signing_key(client, user["APIKey"], sender.domain_id)
            yield Hooks(Setup(gateway, sink, sender), receiver, client, user["APIKey"], key)
        finally:
            client.close()
            if gateway.process is not None:
                gateway.stop()
            server.shutdown()


def verified(hooks: Hooks, received: Received) -> Any:
    """The payload, after the Standard Webhooks reference implementation checked it."""
    return Webhook(hooks.signing_key).verify(received.body, received.headers)


def first_to(hooks: Hooks, path: str, recipient: str) -> Received:
    def found() -> Received | None:
        return next((c for c in hooks.receiver.to(path) if c.json["recipient"] == recipient), None)

    result: Received = wait_until(found, timeout=30)
    return result


def test_every_event_type_arrives_signed(hooks: Hooks) -> None:
    for event in ("delivery", "bounce", "complaint"):
        hooks.add(event, f"/ok/{event}")
    delivered_id = hooks.send("ok-ann@example.org")
    hooks.send("unknown-bob@example.org")

    delivered = verified(hooks, first_to(hooks, "/ok/delivery", "ok-ann@example.org"))
    assert (delivered["event"], delivered["legacy_event"]) == ("delivered", "delivery")
    assert delivered["message_id"] == str(delivered_id)
    assert delivered["reply"].startswith("250")
    assert delivered["headers"]["To"] == "ok-ann@example.org"
    assert delivered["headers"]["From"] == hooks.setup.sender.address
    assert delivered["tags"] == []
    bounced = verified(hooks, first_to(hooks, "/ok/bounce", "unknown-bob@example.org"))
    assert (bounced["event"], bounced["legacy_event"]) == ("bounced", "bounce")
    assert bounced["reply"].startswith("550 5.1.1")

    complainant = "kate.lee@yahoo.com"  # the sample report's
    queue_id = hooks.send(complainant)
    first_to(hooks, "/ok/delivery", complainant)
    report = report_from_sample("arf_yahoo.eml", hooks.setup, queue_id, complainant)
    send_report(hooks.setup, queue_id, report)
    complained = verified(hooks, first_to(hooks, "/ok/complaint", complainant))
    assert (complained["event"], complained["legacy_event"]) == ("complained", "complaint")
    assert complained["details"]["feedback_type"] == "abuse"
    # A tampered body fails the same verifier.
    received = first_to(hooks, "/ok/bounce", "unknown-bob@example.org")
    with pytest.raises(Exception, match=r"[Ss]ignature"):
        Webhook(hooks.signing_key).verify(received.body.replace(b"bob", b"eve"), received.headers)


def test_a_receiver_that_fails_three_times_gets_the_event_once_more(hooks: Hooks) -> None:
    webhook_id = hooks.add("delivery", "/flaky")
    hooks.send("ok-flaky@example.org")
    wait_until(lambda: len(hooks.receiver.to("/flaky")) >= 4, timeout=30)
    [status] = wait_until(
        lambda: [
            s for s in hooks.status("--webhook", str(webhook_id)) if s["Status"] == "delivered"
        ]
    )
    calls = hooks.receiver.to("/flaky")
    assert Counter(c.headers["webhook-id"] for c in calls) == {calls[0].headers["webhook-id"]: 4}
    assert (status["Attempts"], status["LastHTTPStatus"]) == (4, 200)
    assert len({verified(hooks, c)["event_id"] for c in calls}) == 1


def test_a_stalled_receiver_does_not_hold_back_the_others(hooks: Hooks) -> None:
    """More events than a webhook's concurrency, its receiver not answering: the other
    webhook's calls for the same events are made meanwhile."""
    stalled = hooks.add("delivery", "/stall")
    recipients = [f"ok-stall{index}@example.org" for index in range(15)]
    for recipient in recipients:
        hooks.send(recipient)
    for recipient in recipients:
        first_to(hooks, "/ok/delivery", recipient)
    # The stalled webhook's first calls are all made, and none answered.
    wait_until(lambda: len(hooks.receiver.to("/stall")) >= 10)
    assert not hooks.receiver.released.is_set()
    hooks.receiver.released.set()
    wait_until(lambda: len(hooks.calls(stalled, "delivered")) == len(recipients), timeout=30)
    assert hooks.api("emailgateway.deletewebhook", WebhookID=stalled)["Success"] is True


def test_410_disables_the_webhook(hooks: Hooks) -> None:
    webhook_id = hooks.add("delivery", "/gone")
    hooks.send("ok-gone1@example.org")
    wait_until(lambda: hooks.receiver.to("/gone"), timeout=30)
    wait_until(
        lambda: [s["Status"] for s in hooks.status("--webhook", str(webhook_id))] == ["dead"]
    )
    answer = hooks.api("emailgateway.getwebhooks")
    [listed] = [w for w in answer["Webhooks"] if w["WebhookID"] == webhook_id]
    assert listed["Status"] != "Active"
    queue_id = hooks.send("ok-gone2@example.org")
    first_to(hooks, "/ok/delivery", "ok-gone2@example.org")  # recorded; not for /gone
    assert len(hooks.receiver.to("/gone")) == 1, queue_id


def test_a_restart_mid_retry_loses_no_webhook(hooks: Hooks) -> None:
    webhook_id = hooks.add("delivery", "/down")
    hooks.send("ok-restart@example.org")
    wait_until(lambda: len(hooks.receiver.to("/down")) >= 2, timeout=30)
    hooks.gateway.stop(signal.SIGKILL)
    [pending] = hooks.status("--webhook", str(webhook_id))
    assert pending["Status"] == "pending" and pending["LastHTTPStatus"] == 503
    hooks.receiver.healthy.set()
    hooks.client.close()
    hooks.client = start(hooks.gateway)
    wait_until(lambda: hooks.calls(webhook_id, "delivered"), timeout=30)
    calls = hooks.receiver.to("/down")
    assert len({c.headers["webhook-id"] for c in calls}) == 1
    assert verified(hooks, calls[-1])["recipient"] == "ok-restart@example.org"


def test_a_delivered_event_is_replayed_under_the_same_webhook_id(hooks: Hooks) -> None:
    webhook_id = hooks.add("delivery", "/ok/replay")
    hooks.send("ok-replay@example.org")
    [call] = wait_until(lambda: hooks.calls(webhook_id, "delivered"))
    event = f"evt_{call['EventID']}"
    assert hooks.gateway.json(
        "webhooks", "replay", "--event", event, "--webhook", str(webhook_id)
    ) == {"Replayed": 1}
    first, again = wait_until(
        lambda: hooks.receiver.to("/ok/replay")[1:] and hooks.receiver.to("/ok/replay")
    )
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert verified(hooks, again) == verified(hooks, first)


def test_a_url_that_turned_private_is_refused_at_delivery(
    tmp_path_factory: pytest.TempPathFactory, dns_server: DnsServer
) -> None:
    receiver = Receiver()
    server = serve_receiver(receiver)
    dns_server.set("hooks.receiver.test", "A", 1, ["8.8.8.8"])  # public when it is added
    with Sink() as sink:
        gateway = make_gateway(
            tmp_path_factory.mktemp("private"),
            MAILGATE_RELAY_NETWORKS="127.0.0.0/8",
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_NAMESERVERS=f"{dns_server.host}:{dns_server.port}",
            MAILGATE_WEBHOOK_RETRY_SCHEDULE="0.2",
        )
        user = gateway.json("user", "add", "owner@private.test")
        sender: Sender = add_sender(gateway, int(user["UserID"]), "private.test")
        client = start(gateway)
        try:
            url = f"http://hooks.receiver.test:{receiver.port}/ok"
            body = {
                "Command": "emailgateway.addwebhook",
                "APIKey": user["APIKey"],
                "DomainID": sender.domain_id,
                "Event": "delivery",
                "WebhookURL": url,
            }
            assert client.post("/api.php", json=body).json()["Success"] is True
            dns_server.set("hooks.receiver.test", "A", 1, ["127.0.0.1"])  # now loopback
            submit(Setup(gateway, sink, sender), ["ok-private@example.org"])

            def dead() -> list[dict[str, Any]]:
                lines = gateway.cli("webhooks", "status", "--dead").stdout.splitlines()
                return [json.loads(line) for line in lines]

            [call] = wait_until(dead, timeout=30)
            assert call["Attempts"] == 2 and call["LastHTTPStatus"] is None
            assert "loopback" in call["LastResponse"], call
            assert receiver.calls == []
        finally:
            client.close()
            gateway.stop()
            server.shutdown()


def test_https_is_verified_against_the_urls_name_while_connecting_to_the_checked_address(
    tmp_path_factory: pytest.TempPathFactory, dns_server: DnsServer
) -> None:
    """The call connects to the address the check returned, yet sends the URL's host as SNI and
    Host and verifies the certificate against that name (not the address, which the certificate
    does not name): a certificate for another name fails the call."""
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("secure-hooks.test").configure_cert(tls)
    names: list[str | None] = []
    tls.sni_callback = lambda _sock, name, _context: names.append(name)  # type: ignore[assignment,misc,return-value]
    receiver = Receiver()
    server = serve_receiver(receiver, tls)
    tmp = tmp_path_factory.mktemp("https-hooks")
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    for name in ("secure-hooks.test", "impostor-hooks.test"):
        dns_server.set(name, "A", 1, ["127.0.0.1"])
    with Sink() as sink:
        gateway = make_gateway(
            tmp / "data",
            SSL_CERT_FILE=str(tmp / "ca.pem"),  # the dispatcher trusts the test CA
            MAILGATE_RELAY_NETWORKS="127.0.0.0/8",
            MAILGATE_SMTP_PROCESSES="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
            MAILGATE_NAMESERVERS=f"{dns_server.host}:{dns_server.port}",
            MAILGATE_ALLOW_PRIVATE_TARGETS="1",
            MAILGATE_WEBHOOK_RETRY_SCHEDULE="0.2",
        )
        user = gateway.json("user", "add", "owner@https.test")
        sender: Sender = add_sender(gateway, int(user["UserID"]), "https.test")
        client = start(gateway)
        try:
            for host in ("secure-hooks.test", "impostor-hooks.test"):
                body = {
                    "Command": "emailgateway.addwebhook",
                    "APIKey": user["APIKey"],
                    "DomainID": sender.domain_id,
                    "Event": "delivery",
                    "WebhookURL": f"https://{host}:{receiver.port}/ok",
                }
                assert client.post("/api.php", json=body).json()["Success"] is True
            submit(Setup(gateway, sink, sender), ["ok-https@example.org"])
            [received] = wait_until(lambda: receiver.to("/ok"), timeout=30)
            assert received.headers["host"] == f"secure-hooks.test:{receiver.port}"
            assert received.json["recipient"] == "ok-https@example.org"

            def dead() -> list[dict[str, Any]]:
                lines = gateway.cli("webhooks", "status", "--dead").stdout.splitlines()
                return [json.loads(line) for line in lines]

            [call] = wait_until(dead, timeout=30)
            assert "impostor-hooks.test" in call["URL"] and call["LastHTTPStatus"] is None
            assert "certificate" in call["LastResponse"].lower(), call
            assert len(receiver.to("/ok")) == 1
            assert "secure-hooks.test" in names and "impostor-hooks.test" in names
            assert None not in names  # never a bare address
        finally:
            client.close()
            gateway.stop()
            server.shutdown()
