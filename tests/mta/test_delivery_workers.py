"""Several delivery workers on one PostgreSQL: each recipient is delivered once and none is left
behind; a worker killed in the middle of its batch loses nothing (its lease runs out and the
others, or its restarted self, take the work up)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.engine import Database
from storage.models import Delivery
from storage.queue import NewMessage, insert_messages
from tests.conftest import MAILGATE, Gateway, make_gateway, wait_until
from tests.mta.sink import Sink

pytestmark = pytest.mark.postgres

MESSAGES = 500
RECIPIENTS_EACH = 4  # 2,000 recipients, in transactions of four


def recipients_of(index: int) -> list[str]:
    return [f"ok-{index}-{n}@sink{n % 2}.example" for n in range(RECIPIENTS_EACH)]


async def fill_queue(url: str, user_id: int, domain_id: int) -> None:
    db = Database(url)
    try:
        batch = [
            NewMessage(
                id=uuid.uuid4(),
                mail_from="app@workers.test",
                recipients=recipients_of(index),
                raw=f"From: app@workers.test\r\nSubject: {index}\r\n\r\nBody {index}\r\n".encode(),
                source="test",
                user_id=user_id,
                sender_domain_id=domain_id,
            )
            for index in range(MESSAGES)
        ]
        await db.write(lambda conn: insert_messages(conn, batch))
    finally:
        await db.dispose()


async def delivery_counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        rows = await db.rows(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {str(status): count for status, count in rows}
    finally:
        await db.dispose()


def worker_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def installation(tmp_path: Path, postgres_url: str, sink: Sink, **env: str) -> Gateway:
    gateway = make_gateway(
        tmp_path,
        MAILGATE_DATABASE_URL=postgres_url,
        MAILGATE_ROUTES=f"*=127.0.0.1:{sink.port}",
        MAILGATE_DELIVERY_PROCESSES="2",
        **env,
    )
    user_id = int(gateway.json("user", "add", "owner@workers.test")["UserID"])
    domain_id = int(
        gateway.json("domain", "add", "workers.test", "--user", str(user_id))["DomainID"]
    )
    gateway.json("domain", "enable", str(domain_id))
    asyncio.run(fill_queue(postgres_url, user_id, domain_id))
    return gateway


def start_worker(gateway: Gateway) -> subprocess.Popen[bytes]:
    log = (gateway.data_dir / "worker.log").open("wb")
    return subprocess.Popen(
        [*MAILGATE, "worker"], env=gateway.env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def all_delivered(url: str) -> bool:
    return asyncio.run(delivery_counts(url)) == {"delivered": MESSAGES * RECIPIENTS_EACH}


def received(sink: Sink) -> Counter[str]:
    with sink.handler.lock:
        return Counter(r for t in sink.handler.received for r in t.recipients)


def expected() -> set[str]:
    return {r for index in range(MESSAGES) for r in recipients_of(index)}


def test_two_workers_deliver_every_recipient_once(
    tmp_path: Path, postgres_url: str, sink: Sink
) -> None:
    gateway = installation(tmp_path, postgres_url, sink)
    worker = start_worker(gateway)
    try:
        # Two delivery processes and the webhook dispatcher's.
        wait_until(lambda: len(worker_children(worker.pid)) == 3)
        wait_until(lambda: all_delivered(postgres_url), timeout=120, interval=0.2)
    finally:
        stop_worker(worker)
    counts = received(sink)
    assert set(counts) == expected()
    assert set(counts.values()) == {1}, "a recipient was delivered twice"
    log = (gateway.data_dir / "worker.log").read_text()
    assert log.count("delivery worker ready") == 2  # both processes took part


def test_a_worker_killed_mid_batch_loses_nothing(
    tmp_path: Path, postgres_url: str, sink: Sink
) -> None:
    gateway = installation(
        tmp_path, postgres_url, sink, MAILGATE_DELIVERY_LEASE="2s", MAILGATE_LOG_LEVEL="info"
    )
    worker = start_worker(gateway)
    try:
        victim = wait_until(lambda: worker_children(worker.pid)[:1])[0]
        wait_until(lambda: sum(received(sink).values()) >= 200, timeout=60, interval=0.01)
        os.kill(victim, signal.SIGKILL)  # its claimed, unrecorded recipients are in limbo
        wait_until(lambda: all_delivered(postgres_url), timeout=120, interval=0.2)
    finally:
        stop_worker(worker)
    assert set(received(sink)) == expected()  # every recipient arrived (some perhaps twice)
    log = (gateway.data_dir / "worker.log").read_text()
    assert f"worker exited unexpectedly index=0 pid={victim}" in log
