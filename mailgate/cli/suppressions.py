"""`mailgate suppression ...`: the suppression list, every account's and the global entries
(an operator's view; `--account` narrows it to one account's own and its domains' entries)."""

from __future__ import annotations

import argparse
from typing import Any

from http_api.suppression_views import MAX_ADDRESS, suppression_view
from mailgate.cli.output import command, emit, emit_lines, group, say, with_database
from mailgate.cli.queue import MAX_LIMIT, row_limit
from mailgate.config import Settings
from storage.suppressions import (
    SuppressionFilter,
    SuppressionRow,
    list_suppressions,
    normalize_address,
    remove_suppression,
)


def address_argument(text: str) -> str:
    """ADDRESS and --address: an address as the API takes it, at most 254 characters."""
    address = text.strip()
    if not address or len(address) > MAX_ADDRESS:
        raise argparse.ArgumentTypeError(f"give an address of 1 to {MAX_ADDRESS} characters")
    return address


def row_view(row: SuppressionRow) -> dict[str, Any]:
    """The API's view of an entry, with whose it is (the API shows a caller its own only)."""
    return {**suppression_view(row), "UserID": row.user_id}


def cmd_suppression_list(settings: Settings, args: argparse.Namespace) -> int:
    selection = SuppressionFilter(
        user_id=args.account, address=args.address, reason=args.reason, count=args.limit
    )
    _, rows = with_database(settings, lambda db: list_suppressions(db, selection))
    emit_lines([row_view(row) for row in rows])
    return 0


def cmd_suppression_remove(settings: Settings, args: argparse.Namespace) -> int:
    removed = with_database(settings, lambda db: remove_suppression(db, args.address, args.account))
    if not removed:
        whose = "" if args.account is None else f" of account {args.account}"
        say(f"{args.address} is not on the suppression list{whose}")
        return 1
    emit({"Address": normalize_address(args.address), "Removed": removed})
    return 0


def register(commands: Any) -> None:
    suppression = group(commands, "suppression", help="the suppression list: list, remove")
    listing = command(
        suppression, "list", cmd_suppression_list, help="entries as JSON lines, newest first"
    )
    listing.add_argument("--address", type=address_argument, help="only this address")
    listing.add_argument("--reason", help="only entries with this reason (e.g. bad-domain)")
    listing.add_argument(
        "--limit", type=row_limit, default=1000, help=f"rows at most (1 to {MAX_LIMIT})"
    )
    remove = command(
        suppression,
        "remove",
        cmd_suppression_remove,
        help="take an address off the list (every entry; with --account, that account's only)",
    )
    remove.add_argument("address", type=address_argument)
    for sub in (listing, remove):
        sub.add_argument("--account", type=int, help="only this UserID's entries")
