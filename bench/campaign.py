"""Campaign queueing benchmark: how fast the campaign scheduler queues a list, and its memory.

Builds a fresh database (SQLite in a temporary data directory, durable; or the PostgreSQL
database named by MAILGATE_DATABASE_URL), with one account, an enabled sender domain and a list
of SUBSCRIBERS subscribers (two custom fields each, 1% inactive, 1% suppressed), and a campaign
to the list made Ready. A child process then runs the scheduler (mta/campaigns/scheduler.py,
the code `mailgate serve` runs) until the run has queued everyone, and reports the time and its
peak resident memory. The same child is run for a list a tenth the size: memory that does not
grow with the list's size shows as the same peak.

The yardstick, in the same run and database: one bare `INSERT INTO deliveries ... SELECT ...
FROM subscribers` of the same list (no rules, states, suppressions, events or batches), what a
database does at best.

    .venv/bin/python bench/campaign.py [--subscribers 100000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smtp_ingest import ROOT

sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, literal, select

from mta.campaigns.scheduler import CampaignScheduler, SchedulerOptions
from mta.submission.submit import Gateway
from storage.accounts import create_user
from storage.campaigns import CampaignUpdate, create_campaign, update_campaign
from storage.domains import add_domain, set_domain_status
from storage.engine import Database
from storage.migrate import upgrade_async
from storage.models import (
    CampaignRun,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    DomainStatus,
    RunStatus,
    Subscriber,
    SubscriberList,
    SubscriberState,
    Suppression,
    SuppressionScope,
    utcnow,
)
from storage.queue import NewMessage, QueueWriter, insert_messages

DOMAIN = "bench.example"


async def prepare(url: str, subscribers: int) -> tuple[int, int, int]:
    """A migrated database with a list of `subscribers` and a campaign to it, made Ready;
    (user id, list id, campaign id)."""
    await upgrade_async(url)
    db = Database(url)
    try:
        user = await create_user(db, f"owner-{secrets.token_hex(4)}@{DOMAIN}")
        domain = await add_domain(db, user.user_id, DOMAIN, "bounces")
        await set_domain_status(db, domain.id, DomainStatus.ENABLED)
        list_id = await db.write(
            lambda conn: conn.execute(
                insert(SubscriberList)
                .values(user_id=user.user_id, hash=secrets.token_hex(5), name="bench")
                .returning(SubscriberList.id)
            ).scalar_one()
        )
        for start in range(0, subscribers, 10_000):
            rows = [
                {
                    "list_id": list_id,
                    "email": f"reader{n:07d}@dest{n % 50}.example",
                    "state": SubscriberState.INACTIVE if n % 100 == 7 else SubscriberState.ACTIVE,
                    "custom_fields": {"name": f"Reader {n}", "city": "Oslo"},
                }
                for n in range(start, min(subscribers, start + 10_000))
            ]
            await db.write(lambda conn, rows=rows: conn.execute(insert(Subscriber), rows))
        suppressed = [
            {"address": f"reader{n:07d}@dest{n % 50}.example", "scope": SuppressionScope.ACCOUNT,
             "user_id": user.user_id, "reason": "manual", "source": "bench"}
            for n in range(13, subscribers, 100)
        ]  # fmt: skip
        await db.write(lambda conn: conn.execute(insert(Suppression), suppressed))
        campaign = await create_campaign(db, user.user_id, "Bench")
        change = CampaignUpdate(
            content={
                "subject": "Hello $$name$$",
                "from_email": f"news@{DOMAIN}",
                "from_name": "News",
                "html": "<p>Dear $$name$$ from $$city$$</p>" + "<p>news</p>" * 400,
                "text": "Dear $$name$$",
            },
            targets=[str(list_id)],
        )
        await update_campaign(db, user.user_id, campaign.id, change)
        ready = CampaignUpdate(status=CampaignStatus.READY)
        await update_campaign(db, user.user_id, campaign.id, ready)
        return user.user_id, list_id, campaign.id
    finally:
        await db.dispose()


async def queue_all(url: str, batch: int) -> dict[str, Any]:
    """The child's work: run the scheduler until the run has queued everyone."""
    db = Database(url)
    writer = QueueWriter(db)
    writer.start()
    scheduler = CampaignScheduler(
        Gateway(db, writer, "mx.mailgate.test", 30), SchedulerOptions(batch=batch, queue_slice=60)
    )
    started = time.perf_counter()
    try:
        while await scheduler.tick():
            done = await db.scalar(
                select(func.count()).where(CampaignRun.status == RunStatus.QUEUED)
            )
            if done:
                break
        seconds = time.perf_counter() - started
        queued = int(await db.scalar(select(func.count()).select_from(Delivery)))
    finally:
        await writer.close()
        await db.dispose()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "queued": queued, "peak_rss_mib": peak_kib / 1024}


async def yardstick(url: str, list_id: int) -> float:
    """Seconds for one bare INSERT ... SELECT of the list into deliveries of a new message."""
    db = Database(url)
    try:
        message = NewMessage(
            id=uuid.uuid4(), mail_from=f"news@{DOMAIN}", recipients=[], raw=b"x",
            source="bench", queue_deliveries=False,
        )  # fmt: skip
        await db.write(lambda conn: insert_messages(conn, [message]))
        now = utcnow()
        copy = insert(Delivery).from_select(
            ["message_id", "recipient", "recipient_domain", "status", "attempts",
             "next_attempt_at", "created_at", "subscriber_id"],
            select(
                literal(message.id, Delivery.message_id.type), Subscriber.email,
                literal("dest.example"), literal(DeliveryStatus.QUEUED.value),
                literal(0), literal(now, Delivery.next_attempt_at.type),
                literal(now, Delivery.created_at.type), Subscriber.id,
            ).where(Subscriber.list_id == list_id),
        )  # fmt: skip
        started = time.perf_counter()
        await db.write(lambda conn: conn.execute(copy))
        return time.perf_counter() - started
    finally:
        await db.dispose()


def child(url: str, batch: int) -> dict[str, Any]:
    """Queue in a fresh process, so that its peak memory is the queueing's alone."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, "--batch", str(batch)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _postgres(base: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(base.replace("+asyncpg", ""))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextlib.contextmanager
def database_url(workdir: Path, name: str) -> Iterator[str]:
    """A fresh database: a SQLite file in `workdir`, or a PostgreSQL database beside the one
    MAILGATE_DATABASE_URL names, dropped afterwards."""
    base = os.environ.get("MAILGATE_DATABASE_URL")
    if not base:
        yield f"sqlite+aiosqlite:///{workdir / name}.db"
        return
    database = f"bench_{name}_{secrets.token_hex(4)}"
    _postgres(base, f'CREATE DATABASE "{database}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + database
    finally:
        _postgres(base, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def measure(workdir: Path, subscribers: int, batch: int) -> dict[str, Any]:
    with database_url(workdir, f"campaign{subscribers}") as url:
        _, list_id, _ = asyncio.run(prepare(url, subscribers))
        ours = child(url, batch)
        bare = asyncio.run(yardstick(url, list_id))
    eligible = subscribers - subscribers // 100 * 2
    return {
        "subscribers": subscribers,
        "queued": ours["queued"],
        "expected": eligible,
        "recipients_per_s": ours["queued"] / ours["seconds"],
        "seconds": ours["seconds"],
        "peak_rss_mib": ours["peak_rss_mib"],
        "yardstick_rows_per_s": subscribers / bare,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(queue_all(args.child, args.batch))))
        return
    with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as workdir:
        for size in (args.subscribers // 10, args.subscribers):
            result = measure(Path(workdir), size, args.batch)
            ratio = result["recipients_per_s"] / result["yardstick_rows_per_s"]
            print(
                f"subscribers={size} queued={result['queued']} (eligible {result['expected']}) "
                f"recipients_per_s={result['recipients_per_s']:.0f} "
                f"seconds={result['seconds']:.2f} peak_rss_mib={result['peak_rss_mib']:.1f} "
                f"yardstick_rows_per_s={result['yardstick_rows_per_s']:.0f} ratio={ratio:.2f}"
            )


if __name__ == "__main__":
    main()
