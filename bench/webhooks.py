"""Webhook benchmark: how fast `mailgate worker`'s dispatcher empties an outbox of EVENTS calls
to one fast local receiver.

Builds a fresh data directory (SQLite, durable), adds a sender domain with a `delivery` webhook
to a receiver on loopback (uvicorn with a bare ASGI app answering 204, in its own process),
records EVENTS `delivered` events through the storage operation every event goes through (which
fills the outbox), then starts `mailgate worker` and times until every call is recorded
delivered. The rate is from the first recorded call to the last.

The yardstick, measured in the same run against the same receiver: a bare aiohttp client in its
own process POSTing as many bodies of the same size, 10 at a time (a webhook's concurrency),
with nothing read from or written to a database and nothing signed.

    .venv/bin/python bench/webhooks.py [--events 10000]

Set MAILGATE_DATABASE_URL to measure on PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from draining import count_where, drain
from smtp_ingest import ROOT, bench_env, free_port, mailgate

sys.path.insert(0, str(ROOT))

from storage.engine import Database
from storage.event_log import record_events
from storage.models import OutboxStatus, WebhookCall, WebhookEvent, utcnow
from storage.webhooks import add_webhook

DOMAIN = "bench.example"

RECEIVER = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            http="httptools", access_log=False)
"""

YARDSTICK = """
import asyncio, sys, time, aiohttp
async def main(url, count, size):
    body = b"x" * size
    async with aiohttp.ClientSession() as session:
        async def post():
            async with session.post(url, data=body) as response:
                await response.read()
        todo = iter(range(count))
        async def lane():
            for _ in todo:
                await post()
        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(10)))
        print(count / (time.perf_counter() - started))
asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""
PAYLOAD_BYTES = 600  # about what a `delivered` call carries


def yardstick(url: str, count: int) -> float:
    command = [sys.executable, "-c", YARDSTICK, url, str(count), str(PAYLOAD_BYTES)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


async def fill_outbox(url: str, domain_id: int, hook_url: str, count: int) -> None:
    db = Database(url)
    try:
        await add_webhook(db, domain_id, WebhookEvent.DELIVERY, hook_url)
        for start in range(0, count, 500):
            events = [
                {
                    "type": "delivered",
                    "message_id": None,
                    "delivery_id": None,
                    "recipient": f"rcpt{index}@sink.example",
                    "user_id": None,
                    "sender_domain_id": domain_id,
                    "created_at": utcnow(),
                    "data": {"reply": "250 2.0.0 Ok", "remote_host": "sink.example"},
                }
                for index in range(start, min(count, start + 500))
            ]
            await db.write(lambda conn, events=events: record_events(conn, events))
    finally:
        await db.dispose()


def wait_for_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the receiver did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10000)
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="mailgate-webhooks-bench."))
    port = free_port()
    env = bench_env(
        dict(
            MAILGATE_DATA_DIR=str(data),
            MAILGATE_HOSTNAME="mailgate.bench",
            MAILGATE_ALLOW_PRIVATE_TARGETS="1",
            MAILGATE_DELIVERY_PROCESSES="1",
            MAILGATE_LOG_LEVEL="warning",
        )
    )
    url = env.get("MAILGATE_DATABASE_URL", f"sqlite+aiosqlite:///{data / 'mailgate.db'}")
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        wait_for_port(port)
        mailgate(env, "init")
        user = mailgate(env, "user", "add", f"bench@{DOMAIN}")["UserID"]
        domain = mailgate(env, "domain", "add", DOMAIN, "--user", str(user))["DomainID"]
        asyncio.run(fill_outbox(url, domain, f"http://127.0.0.1:{port}/hook", args.events))

        done = WebhookCall.status == OutboxStatus.DELIVERED
        drained = drain(env, args.events, lambda: asyncio.run(count_where(url, done)))
        peer = yardstick(f"http://127.0.0.1:{port}/hook", args.events)
        print(
            f"webhooks events={args.events} {drained.fields('events', 'event')} "
            f"yardstick_per_s={peer:.1f} ratio={drained.rate / peer:.2f}"
        )
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
