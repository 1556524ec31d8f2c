"""`mailgate sms sender ...`: the sender names accounts may send SMS under."""

from __future__ import annotations

import argparse
from typing import Any

from mailgate.cli.output import GLOBAL_OPTIONS, command, emit, group, say, with_database
from mailgate.config import Settings
from mta.sms.text import SmsError, check_sender_name
from storage import sms_senders


def cmd_sms_sender(settings: Settings, args: argparse.Namespace) -> int:
    """`sms sender add` announces an account's sender name; `sms sender confirm` lets the
    account send SMS under it."""
    try:
        name = check_sender_name(args.name)
    except SmsError as error:
        say(f"not a sender name: {args.name!r} ({error.detail})")
        return 1
    operation = sms_senders.add_sender if args.step == "add" else sms_senders.confirm_sender
    try:
        sender = with_database(settings, lambda db: operation(db, args.user_id, name))
    except sms_senders.NotFound as error:
        say(str(error))
        return 1
    emit({"UserID": sender.user_id, "Name": sender.name, "Status": str(sender.status)})
    return 0


def register(commands: Any) -> None:
    sms = group(commands, "sms", help="SMS sender names")
    sender = sms.add_parser(
        "sender", help="an account's SMS sender names", parents=[GLOBAL_OPTIONS]
    ).add_subparsers(dest="step", required=True, metavar="STEP")
    for step, helptext in (
        ("add", "add a sender name, awaiting confirmation"),
        ("confirm", "confirm a sender name: SMS may be sent under it"),
    ):
        sub = command(sender, step, cmd_sms_sender, help=helptext)
        sub.add_argument("user_id", type=int, help="the UserID")
        sub.add_argument("name", help="at most 11 GSM characters, as phones will show it")
