"""The `mailgate` command line. Output for scripts is JSON on stdout; messages go to stderr.

Each command group lives in a module of its own (setup, users, domains, smtp, queue, webhooks,
sms, suppressions) that adds its parsers in `register`; a parser names its handler with
`set_defaults`.
"""

from __future__ import annotations

import argparse
import os
import sys

from mailgate.cli import domains, queue, setup, sms, smtp, suppressions, users, webhooks
from mailgate.cli.output import GLOBAL_OPTIONS, Handler, say
from mailgate.config import ConfigError, load_settings
from mailgate.logs import configure_logging
from mailgate.preflight import Refusal

GROUPS = (setup, users, domains, smtp, queue, webhooks, sms, suppressions)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="mailgate", description=__doc__.splitlines()[0], parents=[GLOBAL_OPTIONS]
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in GROUPS:
        module.register(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "data_dir", None):
        os.environ["MAILGATE_DATA_DIR"] = args.data_dir
    if getattr(args, "config", None):
        os.environ["MAILGATE_CONFIG"] = args.config
    try:
        settings = load_settings(config_may_be_missing=args.handler is setup.cmd_init)
    except ConfigError as error:
        say(f"mailgate: {error}")
        return 2
    configure_logging(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except Refusal as refusal:
        say(f"mailgate: {refusal}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
