"""Several nodes on one PostgreSQL database: a node joins the cluster with the secrets the others
hold and never forks them; a node holding another conversion key refuses to run, saying which
secret and what to do; two running nodes accept the same signed calls and deliver each message
exactly once."""

from __future__ import annotations

import smtplib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mta.tracking.ocrid import new_key
from tests.conftest import MAILGATE, Gateway, wait_until
from tests.http_api.conftest import RestClient
from tests.mta.conftest import add_sender
from tests.mta.sink import Sink
from tests.mta.support import expect, message, queued_id


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILGATE, *args], env=env, capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """A refusal's message: a single line on stderr, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def first(gateway_factory: Any, postgres_url: str) -> Gateway:
    gateway: Gateway = gateway_factory(MAILGATE_DATABASE_URL=postgres_url)
    return gateway


def test_a_node_without_the_key_does_not_fork_the_cluster(first: Gateway, tmp_path: Path) -> None:
    newcomer = tmp_path / "node-b"
    refused = run({**first.env, "MAILGATE_DATA_DIR": str(newcomer)}, "init")

    assert refused.returncode == 2
    line = one_line(refused)
    assert "no conversion key" in line and "copy conversion.key from a node" in line
    assert str(newcomer / "conversion.key") in line and "MAILGATE_CONVERSION_KEY" in line
    assert not (newcomer / "conversion.key").exists()
    assert not (newcomer / "admin.key").exists()
    # The first node's key is still the cluster's.
    assert first.cli("user", "add", "still@cluster.test").returncode == 0


def test_a_node_holding_another_key_refuses_to_serve_and_creates_nothing(
    first: Gateway, gateway_factory: Any
) -> None:
    second: Gateway = gateway_factory(joining=first)
    forked = {**second.env, "MAILGATE_CONVERSION_KEY": new_key()}

    for command in (["serve"], ["user", "add", "fork@cluster.test"], ["init"]):
        refused = run(forked, *command)
        assert refused.returncode == 2, (command, refused.stderr)
        line = one_line(refused)
        assert "the conversion key from MAILGATE_CONVERSION_KEY is not the one" in line
        assert "copy conversion.key from a node" in line
    assert not (second.data_dir / "metrics").exists()


def test_the_admin_key_is_the_clusters_and_rotation_reaches_every_node(
    first: Gateway, gateway_factory: Any
) -> None:
    second: Gateway = gateway_factory(joining=first)
    again = second.cli("init")
    assert "admin key was made on another node" in again.stderr
    assert not (second.data_dir / "admin.key").exists()

    missing = second.cli("admin-key", check=False)
    assert missing.returncode == 1
    assert "copy admin.key from the node that made it" in missing.stderr

    (second.data_dir / "admin.key").write_bytes((first.data_dir / "admin.key").read_bytes())
    assert second.json("admin-key") == first.json("admin-key")

    rotated = first.json("admin-key", "--rotate")["AdminAPIKey"]
    stale = second.cli("admin-key", check=False)
    assert stale.returncode == 1 and "was replaced" in stale.stderr
    assert rotated not in stale.stdout


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def http(gateway: Gateway) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{gateway.env['MAILGATE_HTTP_PORT']}")


def ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_two_nodes_accept_the_same_signed_calls_and_deliver_once(
    gateway_factory: Any, postgres_url: str, sink: Sink
) -> None:
    settings = {
        "MAILGATE_DATABASE_URL": postgres_url,
        "MAILGATE_ROUTES": f"*=127.0.0.1:{sink.port}",
        "MAILGATE_RELAY_NETWORKS": "127.0.0.0/8",
        "MAILGATE_SMTP_PROCESSES": "1",
        "MAILGATE_DELIVERY_PROCESSES": "1",
        "MAILGATE_RETRY_SCHEDULE": "1s",
    }
    node_a: Gateway = gateway_factory(**settings)
    node_b: Gateway = gateway_factory(joining=node_a, **settings)
    owner = node_a.json("user", "add", "owner@nodes.test")
    sender = add_sender(node_b, int(owner["UserID"]), "nodes.test")
    admin_key = node_a.json("admin-key")["AdminAPIKey"]
    node_a.start()
    node_b.start()

    for node in (node_a, node_b):
        with http(node) as client:
            wait_until(lambda client=client: ready(client))
            signed = RestClient(client, owner["RestApiKey"], owner["RestApiSecret"])
            assert signed.ok("/rest/subscribers_list/lists") == []
            body = {"Command": "sender.domains", "AdminAPIKey": admin_key}
            answer = client.post("/api.php", json=body)
            assert answer.status_code == 200 and "nodes.test" in answer.text, answer.text

    sent: dict[str, uuid.UUID] = {}
    for index in range(10):
        node = (node_a, node_b)[index % 2]
        recipient = f"ok-{index}@dest.example"
        with smtplib.SMTP("127.0.0.1", node.ports["smtp"], timeout=15) as smtp:
            smtp.ehlo()
            expect(smtp.mail(sender.address), "250 2.1.0")
            expect(smtp.rcpt(recipient), "250 2.1.5")
            sent[recipient] = queued_id(smtp.data(message(sender.address, recipient)))

    wait_until(lambda: all(sink.transactions_to(r) for r in sent), timeout=30)

    # A rotation on one node is the cluster's: node B takes the new key and refuses the old.
    rotated = node_a.json("admin-key", "--rotate")["AdminAPIKey"]
    with http(node_b) as client:

        def accepted(key: str) -> bool:
            body = {"Command": "sender.domains", "AdminAPIKey": key}
            return "nodes.test" in client.post("/api.php", json=body).text

        wait_until(lambda: accepted(rotated) and not accepted(admin_key), timeout=10)
    node_a.stop()
    node_b.stop()
    for recipient in sent:
        assert len(sink.transactions_to(recipient)) == 1, recipient
    received = [r for r in sink.handler.received if set(r.recipients) & set(sent)]
    assert len(received) == len(sent)
