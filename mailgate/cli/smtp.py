"""`mailgate smtp ...`: SMTP credentials of sender domains."""

from __future__ import annotations

import argparse
from typing import Any

from mailgate.cli.output import command, emit, emit_lines, group, say, with_existing
from mailgate.config import Settings
from storage import credentials, domains
from storage.engine import Database
from storage.models import iso_time


def cmd_smtp_add(settings: Settings, args: argparse.Namespace) -> int:
    new = with_existing(
        settings, lambda db: credentials.add_credential(db, args.domain), domains.NotFound
    )
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


def cmd_smtp_list(settings: Settings, args: argparse.Namespace) -> int:
    async def listed(db: Database) -> list[credentials.CredentialView]:
        await domains.get_domain(db, args.domain)  # NotFound for no such domain
        return await credentials.list_credentials(db, args.domain)

    found = with_existing(settings, listed, domains.NotFound)
    emit_lines(
        [
            {
                "SMTPID": item.credential_id,
                "SMTPUsername": item.username,
                "DomainID": item.domain_id,
                "CreatedAt": iso_time(item.created_at),
                "LastUsedAt": iso_time(item.last_used_at),
            }
            for item in found
        ]
    )
    return 0


def cmd_smtp_delete(settings: Settings, args: argparse.Namespace) -> int:
    """The same deletion as the API's `emailgateway.deletesmtp`."""
    with_existing(settings, lambda db: credentials.delete_credential(db, args.id), domains.NotFound)
    emit({"SMTPID": args.id, "Deleted": True})
    return 0


def register(commands: Any) -> None:
    smtp = group(commands, "smtp", help="manage SMTP credentials")
    smtp_add = command(smtp, "add", cmd_smtp_add, help="create SMTP credentials for a domain")
    smtp_add.add_argument("--domain", type=int, required=True, help="DomainID")
    smtp_list = command(
        smtp, "list", cmd_smtp_list, help="a domain's SMTP credentials (never their passwords)"
    )
    smtp_list.add_argument("--domain", type=int, required=True, help="DomainID")
    smtp_delete = command(
        smtp, "delete", cmd_smtp_delete, help="delete SMTP credentials: AUTH with them fails"
    )
    smtp_delete.add_argument("id", type=int, help="the SMTPID")
