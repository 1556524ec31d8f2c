"""Delivery benchmark: how fast `mailgate worker` empties a full queue into a local sink.

Builds a fresh data directory (SQLite, durable), queues MESSAGES messages of SIZE bytes for one
destination domain straight into the queue (the storage operation the SMTP path uses), starts a
sink (Postfix's `smtp-sink` when installed, which takes 16,000 msg/s here, else an aiosmtpd sink
in its own process), then starts `mailgate worker` routed to the sink and times until every
recipient is recorded `delivered`.

    .venv/bin/python bench/delivery.py [--messages 20000] [--size 5120] [--processes 1] [--tracked]

With --tracked the messages are HTML with five links, stored as the submission path stores a
message whose sender domain tracks links and opens and adds List-Unsubscribe: unsigned, with
placeholders; the worker then makes and DKIM-signs each recipient's copy.

Set MAILGATE_DATABASE_URL to measure on PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from draining import count_where, drain
from smtp_ingest import ROOT, bench_env, free_port, mailgate, make_message

sys.path.insert(0, str(ROOT))

from mailgate.config import load_settings
from mta.tracking.rewrite import Plan, TrackingSettings, prepare
from storage.engine import Database
from storage.models import Delivery, DeliveryStatus
from storage.queue import NewMessage, insert_messages

DOMAIN = "bench.example"
SINK_DOMAIN = "sink.example"

AIOSMTPD_SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok"
controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
input()
"""


def start_sink(port: int) -> subprocess.Popen[bytes]:
    if shutil.which("smtp-sink"):
        command = ["smtp-sink", "-u", "postfix", f"127.0.0.1:{port}", "1000"]
        if os.geteuid() != 0:
            command = ["smtp-sink", f"127.0.0.1:{port}", "1000"]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL)
    return subprocess.Popen([sys.executable, "-c", AIOSMTPD_SINK, str(port)], stdin=subprocess.PIPE)


def tracked_message(env: dict[str, str], size: int, index: int, message_id: uuid.UUID) -> bytes:
    """An HTML message as submission stores it for a domain that tracks everything."""
    head = (
        f"From: Bench <app@{DOMAIN}>\r\nTo: rcpt@sink.example\r\n"
        f"Subject: benchmark message {index}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n"
    ).encode()
    links = "".join(
        f'<p><a href="https://shop.example/item/{n}?ref=mail">{n}</a></p>\r\n' for n in range(5)
    ).encode()
    line = b"<p>The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij</p>\r\n"
    filler = (line * (size // len(line) + 1))[: max(0, size - len(head) - len(links) - 20)]
    raw = head + links + filler + b"</body></html>\r\n"
    settings = TrackingSettings.of(load_settings(env))
    plan = Plan(True, True, True, f"https://links.{DOMAIN}", f"bounces.{DOMAIN}")
    prepared = prepare(settings, plan, raw, message_id)
    assert prepared is not None
    return prepared


async def fill_queue(
    url: str, sender_domain_id: int, user_id: int, count: int, size: int, make: Any
) -> None:
    db = Database(url)
    try:
        batch: list[NewMessage] = []
        for index in range(count):
            message_id = uuid.uuid4()
            batch.append(
                NewMessage(
                    id=message_id,
                    mail_from=f"app@{DOMAIN}",
                    recipients=[f"rcpt{index}@{SINK_DOMAIN}"],
                    raw=make(size, index, message_id),
                    source="bench",
                    user_id=user_id,
                    sender_domain_id=sender_domain_id,
                )
            )
            if len(batch) == 1000 or index == count - 1:
                rows = batch
                await db.write(lambda conn, rows=rows: insert_messages(conn, rows))
                batch = []
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=5120)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--tracked", action="store_true")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="mailgate-delivery-bench."))
    sink_port = free_port()
    env = bench_env(
        dict(
            MAILGATE_DATA_DIR=str(data),
            MAILGATE_HOSTNAME="mailgate.bench",
            MAILGATE_ROUTES=f"*=127.0.0.1:{sink_port}",
            MAILGATE_DELIVERY_PROCESSES=str(args.processes),
            MAILGATE_LOG_LEVEL="warning",
        )
    )
    url = env.get("MAILGATE_DATABASE_URL", f"sqlite+aiosqlite:///{data / 'mailgate.db'}")
    sink = start_sink(sink_port)
    try:
        mailgate(env, "init")
        user = mailgate(env, "user", "add", f"bench@{DOMAIN}")["UserID"]
        domain = mailgate(env, "domain", "add", DOMAIN, "--user", str(user))["DomainID"]
        mailgate(env, "domain", "enable", str(domain))
        if args.tracked:
            make = functools.partial(tracked_message, env)
        else:
            make = lambda size, index, _id: make_message(size, index)  # noqa: E731
        asyncio.run(fill_queue(url, domain, user, args.messages, args.size, make))

        done = Delivery.status == DeliveryStatus.DELIVERED
        drained = drain(env, args.messages, lambda: asyncio.run(count_where(url, done)))
        print(
            f"delivery messages={args.messages} size={args.size} processes={args.processes} "
            f"tracked={args.tracked} " + drained.fields("msgs", "msg")
        )
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
