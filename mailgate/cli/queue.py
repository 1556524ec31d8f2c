"""`mailgate queue ...`: the delivery queue: counts, listings, one message, retry now, removal,
explanations."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from mailgate.cli.output import command, emit, emit_lines, say, with_database
from mailgate.config import Settings
from storage import queue_admin
from storage.models import DeliveryStatus

MAX_LIMIT = 10_000  # rows a listing may ask for: more is a query for the database, not a look


def row_limit(text: str) -> int:
    """--limit: how many rows at most, from 1 to MAX_LIMIT (argparse names the option)."""
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "message_id": args.message,
        "recipient_domain": args.domain,
        "recipient": args.recipient,
    }


def cmd_queue(settings: Settings, args: argparse.Namespace) -> int:
    emit(with_database(settings, queue_admin.queue_summary))
    return 0


def cmd_queue_list(settings: Settings, args: argparse.Namespace) -> int:
    selection = queue_admin.DeliveryFilter(
        recipient_domain=args.domain,
        sender_domain_id=args.sender_domain,
        status=None if args.status is None else DeliveryStatus(args.status),
        limit=args.limit,
    )
    emit_lines(with_database(settings, lambda db: queue_admin.list_deliveries(db, selection)))
    return 0


def cmd_queue_show(settings: Settings, args: argparse.Namespace) -> int:
    found = with_database(settings, lambda db: queue_admin.show_message(db, args.id, args.limit))
    if found is None:
        say(f"no message {args.id} in the queue")
        return 1
    emit(found)
    return 0


def cmd_queue_retry(settings: Settings, args: argparse.Namespace) -> int:
    count = with_database(settings, lambda db: queue_admin.retry_now(db, **_selection(args)))
    emit({"Retried": count})
    return 0


def cmd_queue_delete(settings: Settings, args: argparse.Namespace) -> int:
    selection = _selection(args)
    if not any(selection.values()):
        say("name what to delete: --message ID, --domain DOMAIN or --recipient ADDRESS")
        return 1
    reason = f"removed from the queue by an operator: {args.reason}"
    count = with_database(settings, lambda db: queue_admin.fail_pending(db, reason, **selection))
    emit({"Removed": count})
    return 0


def cmd_queue_explain(settings: Settings, args: argparse.Namespace) -> int:
    limits = {
        "destination_concurrency": settings.destination_concurrency,
        "destination_rate_limit": settings.destination_rate_limit,
        "max_queue_lifetime": settings.max_queue_lifetime,
    }
    found = with_database(settings, lambda db: queue_admin.explain(db, args.id, limits))
    if not found:
        say(f"no message or delivery {args.id!r} in the queue")
        return 1
    emit(found)
    return 0


def register(commands: Any) -> None:
    queue = command(
        commands,
        "queue",
        cmd_queue,
        help="the delivery queue: counts, list, show, retry, delete, explain",
    )
    actions = queue.add_subparsers(dest="action", metavar="ACTION")
    for action, handler, helptext in (
        ("retry", cmd_queue_retry, "make deferred recipients due now"),
        ("delete", cmd_queue_delete, "remove pending recipients (marked failed, with an event)"),
    ):
        sub = command(actions, action, handler, help=helptext)
        sub.add_argument("--message", type=uuid.UUID, help="a message id")
        sub.add_argument("--domain", help="a recipient domain")
        sub.add_argument("--recipient", help="one recipient address")
        if action == "delete":
            sub.add_argument("--reason", default="no reason given")
    explain = command(
        actions, "explain", cmd_queue_explain, help="why a message or recipient is waiting"
    )
    explain.add_argument("id", help="a message id, or a DeliveryID")
    listing = command(
        actions, "list", cmd_queue_list, help="recipients as JSON lines, newest first"
    )
    listing.add_argument("--domain", help="a recipient domain")
    listing.add_argument("--sender-domain", type=int, help="a sender DomainID")
    listing.add_argument("--status", choices=[str(status) for status in DeliveryStatus])
    show = command(actions, "show", cmd_queue_show, help="a message, its recipients and events")
    show.add_argument("id", type=uuid.UUID, help="a message id")
    for sub in (listing, show):
        sub.add_argument(
            "--limit", type=row_limit, default=100, help=f"rows at most (1 to {MAX_LIMIT})"
        )
