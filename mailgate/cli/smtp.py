"""`mailgate smtp ...`: SMTP credentials of sender domains."""

from __future__ import annotations

import argparse
from typing import Any

from mailgate.cli.output import command, emit, group, say, with_engine
from mailgate.config import Settings
from storage import credentials, domains


def cmd_smtp_add(settings: Settings, args: argparse.Namespace) -> int:
    try:
        new = with_engine(settings, lambda engine: credentials.add_credential(engine, args.domain))
    except domains.NotFound as error:
        say(str(error))
        return 1
    emit(
        {
            "SMTPID": new.credential_id,
            "SMTPUsername": new.username,
            "SMTPPassword": new.password,
            "SMTPHost": settings.hostname,
            "SMTPPorts": settings.smtp_ports,
        }
    )
    say("the password is shown only now; it is stored hashed")
    return 0


def register(commands: Any) -> None:
    smtp = group(commands, "smtp", help="manage SMTP credentials")
    smtp_add = command(smtp, "add", cmd_smtp_add, help="create SMTP credentials for a domain")
    smtp_add.add_argument("--domain", type=int, required=True, help="DomainID")
