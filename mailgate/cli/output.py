"""What every command shares: JSON on stdout for scripts, messages on stderr, the database,
and how a command is added to the parser (with the global options it accepts)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from mailgate.cluster import check_conversion_key
from mailgate.config import Settings
from mailgate.preflight import data_dir_usable, ensure_schema
from storage.engine import Database

Handler = Callable[[Settings, argparse.Namespace], int]


def say(message: str) -> None:
    print(message, file=sys.stderr)


def emit(data: Any) -> None:
    print(json.dumps(data, indent=2))


def emit_lines(rows: list[Any]) -> None:
    """One JSON document per line: lists an operator pipes into `jq` or `grep`."""
    for row in rows:
        print(json.dumps(row))


def global_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (`mailgate init --data-dir D` and
    `mailgate --data-dir D init` mean the same). SUPPRESS keeps a value given before the
    command from being reset by the command's own parser."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--data-dir", default=argparse.SUPPRESS,
        help="data directory (default $MAILGATE_DATA_DIR or ./data)",
    )  # fmt: skip
    options.add_argument(
        "--config", default=argparse.SUPPRESS,
        help="the TOML file (default $MAILGATE_CONFIG or DATA_DIR/mailgate.toml)",
    )  # fmt: skip
    return options


GLOBAL_OPTIONS = global_options()


def group(commands: Any, name: str, help: str) -> Any:
    """A command with subcommands (`user`, `domain`, ...)."""
    parser = commands.add_parser(name, help=help, parents=[GLOBAL_OPTIONS])
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def command(commands: Any, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
    """A command that runs `handler(settings, args)`; its exit status is the handler's."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, parents=[GLOBAL_OPTIONS])
    parser.set_defaults(handler=handler)
    return parser


def with_database(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    """Check that the data directory and the database can be opened, bring the schema up to
    date and check this node's secrets against the cluster's, then run `work` on the configured
    database."""
    data_dir_usable(settings)
    ensure_schema(settings)

    async def checked(db: Database) -> Any:
        await check_conversion_key(db, settings)
        return await work(db)

    return run_with_database(settings, checked)


def with_existing(
    settings: Settings, work: Callable[[Database], Awaitable[Any]], *missing: type[Exception]
) -> Any:
    """`with_database` for a command naming something that may not exist (or may not be made):
    when `work` raises one of `missing`, its message is said in one line and the command exits
    with status 1, without a traceback."""
    try:
        return with_database(settings, work)
    except missing as error:
        say(str(error))
        raise SystemExit(1) from None


def run_with_database(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    """Run `work` on the configured database, disposed of afterwards."""

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())
