"""`mailgate webhooks ...`: the state of webhook calls, and replaying them."""

from __future__ import annotations

import argparse
from typing import Any

from mailgate.cli.output import command, emit, emit_lines, group, say, with_database
from mailgate.config import Settings
from storage.engine import Database


def _calls(args: argparse.Namespace) -> Any:
    from storage.webhook_outbox import Selection

    event = getattr(args, "event", None)
    return Selection(
        outbox_id=getattr(args, "outbox", None),
        webhook_id=args.webhook,
        event_id=int(event.removeprefix("evt_")) if event else None,
        dead=args.dead,
    )


def cmd_webhooks_status(settings: Settings, args: argparse.Namespace) -> int:
    from storage import webhook_outbox

    calls = with_database(
        settings, lambda db: webhook_outbox.list_calls(db, _calls(args), args.limit)
    )
    emit_lines(calls)
    return 0


def cmd_webhooks_replay(settings: Settings, args: argparse.Namespace) -> int:
    from storage import webhook_outbox

    if args.event and not args.event.removeprefix("evt_").isdigit():
        say(f"--event takes an event id (12 or evt_12), not {args.event!r}")
        return 2
    if not (args.outbox or args.dead or args.event):
        say("name what to replay: --outbox ID, --dead [--webhook ID] or --event ID")
        return 2
    selection = _calls(args)

    async def replayed(db: Database) -> tuple[list[str], int]:
        unknown = await webhook_outbox.unknown_ids(db, selection)
        return unknown, 0 if unknown else await webhook_outbox.replay(db, selection)

    unknown, count = with_database(settings, replayed)
    if unknown:
        say("; ".join(unknown))
        return 1
    emit({"Replayed": count})
    return 0


def register(commands: Any) -> None:
    hooks = group(commands, "webhooks", help="webhook calls: their state, and replay")
    status = command(hooks, "status", cmd_webhooks_status, help="calls as JSON lines, newest first")
    replay = command(hooks, "replay", cmd_webhooks_replay, help="make calls pending and due now")
    for sub in (status, replay):
        sub.add_argument("--webhook", type=int, help="a WebhookID")
        sub.add_argument("--dead", action="store_true", help="dead-lettered calls only")
    status.add_argument("--limit", type=int, default=1000, help="at most this many calls")
    replay.add_argument("--outbox", type=int, help="one call, by its OutboxID")
    replay.add_argument("--event", help="the calls of one event (EventID, or evt_<n>)")
