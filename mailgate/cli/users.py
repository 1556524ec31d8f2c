"""`mailgate user ...`: accounts, their API permissions and sending limits."""

from __future__ import annotations

import argparse
from typing import Any

from mailgate.cli.output import command, emit, emit_lines, group, say, with_database
from mailgate.config import Settings
from storage import accounts
from storage.models import Permission, UserStatus, iso_time


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    try:
        user = with_database(
            settings, lambda db: accounts.create_user(db, args.email, args.password)
        )
    except accounts.AlreadyExists as error:
        say(str(error))
        return 1
    shown = {"UserID": user.user_id, "APIKey": user.api_key, "RestApiKey": user.rest_api_key}
    if settings.conversion_key is not None:  # made by `mailgate init`
        shown["RestApiSecret"] = user.rest_secret(settings.conversion_key)
    else:
        say("no conversion key (run `mailgate init`): RestApiSecret cannot be derived yet")
    emit(shown)
    return 0


def cmd_user_permissions(settings: Settings, args: argparse.Namespace) -> int:
    held = with_database(
        settings,
        lambda db: accounts.change_permissions(db, args.id, args.grant, args.revoke),
    )
    if held is None:
        say(f"no user {args.id}")
        return 1
    emit({"UserID": args.id, "Permissions": held})
    return 0


def cmd_user_limits(settings: Settings, args: argparse.Namespace) -> int:
    if args.hourly < 0 or args.daily < 0:
        say("limits are counts of recipients: 0 or more")
        return 2
    hourly, daily = args.hourly or None, args.daily or None  # 0 removes a limit
    found = with_database(settings, lambda db: accounts.set_send_limits(db, args.id, hourly, daily))
    if not found:
        say(f"no user {args.id}")
        return 1
    emit({"UserID": args.id, "SendLimitHourly": hourly, "SendLimitDaily": daily})
    return 0


def user_row(user: accounts.UserListing) -> dict[str, Any]:
    """An account as `user list` shows it (no password hash, no key: those are never shown
    again after `user add`)."""
    return {
        "UserID": user.user_id,
        "Email": user.email,
        "Status": str(user.status),
        "Active": user.status == UserStatus.ACTIVE,
        "Trusted": user.trusted,
        "Permissions": user.permissions,
        "ParentUserID": user.parent_user_id,
        "SendLimitHourly": user.send_limit_hourly,
        "SendLimitDaily": user.send_limit_daily,
        "CreatedAt": iso_time(user.created_at),
    }


def cmd_user_list(settings: Settings, args: argparse.Namespace) -> int:
    emit_lines([user_row(user) for user in with_database(settings, accounts.list_users)])
    return 0


def register(commands: Any) -> None:
    user = group(commands, "user", help="manage users")
    user_add = command(
        user, "add", cmd_user_add, help="create a user; prints its keys and REST credentials"
    )
    user_add.add_argument("email")
    user_add.add_argument("--password", help="password for User.Login")
    command(user, "list", cmd_user_list, help="every user as JSON lines, oldest first")
    permissions = command(
        user, "permissions", cmd_user_permissions, help="show, grant or revoke API permissions"
    )
    permissions.add_argument("id", type=int, help="the UserID")
    choices = [str(p) for p in Permission]
    for flag in ("grant", "revoke"):
        permissions.add_argument(f"--{flag}", action="append", default=[], choices=choices)
    limits = command(
        user, "limits", cmd_user_limits, help="set recipients per hour and per day (0: no limit)"
    )
    limits.add_argument("id", type=int, help="the UserID")
    limits.add_argument("--hourly", type=int, default=0, help="recipients per hour")
    limits.add_argument("--daily", type=int, default=0, help="recipients per day")
