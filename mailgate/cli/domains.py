"""`mailgate domain ...`: sender domains and the DNS records they publish."""

from __future__ import annotations

import argparse
from typing import Any

from dns_tools.names import dns_label
from mailgate.cli.output import command, emit, group, say, with_engine
from mailgate.config import Settings
from mta.sender_records import records_for
from storage import accounts, domains
from storage.models import DomainStatus


def domain_view(settings: Settings, domain: Any) -> dict[str, Any]:
    return_path = domains.return_path_domain(domain, settings.return_path_subdomain)
    records = records_for(domain, settings)
    return {
        "DomainID": domain.id,
        "SenderDomain": domain.name,
        "Status": str(domain.status),
        "ReturnPathDomain": return_path,
        "DKIMSelector": domain.dkim_selector,
        "DNSRecords": [record.as_dict() for record in records],
    }


def cmd_domain_add(settings: Settings, args: argparse.Namespace) -> int:
    from dns_tools.names import InvalidDomain, normalize_domain

    try:
        name = normalize_domain(args.name)
    except InvalidDomain as error:
        say(str(error))
        return 1
    try:
        subdomain = None if args.subdomain is None else dns_label(args.subdomain)
    except ValueError as error:
        say(f"invalid --subdomain {args.subdomain!r}: {error}")
        return 1
    try:
        domain = with_engine(
            settings,
            lambda engine: domains.add_domain(
                engine, args.user, name, settings.return_path_subdomain, subdomain
            ),
        )
    except (domains.NotFound, domains.LimitReached, accounts.AlreadyExists) as error:
        say(str(error))
        return 1
    emit(domain_view(settings, domain))
    say("publish the DNS records above, then enable the domain: mailgate domain enable ID")
    return 0


def _set_status(settings: Settings, domain_id: int, status: DomainStatus) -> int:
    try:
        with_engine(settings, lambda engine: domains.set_domain_status(engine, domain_id, status))
    except domains.NotFound as error:
        say(str(error))
        return 1
    emit({"DomainID": domain_id, "Status": str(status)})
    return 0


def cmd_domain_enable(settings: Settings, args: argparse.Namespace) -> int:
    return _set_status(settings, args.id, DomainStatus.ENABLED)


def cmd_domain_disable(settings: Settings, args: argparse.Namespace) -> int:
    return _set_status(settings, args.id, DomainStatus.DISABLED)


def register(commands: Any) -> None:
    domain = group(commands, "domain", help="manage sender domains")
    domain_add = command(
        domain, "add", cmd_domain_add, help="add a sender domain with its DKIM key"
    )
    domain_add.add_argument("name")
    domain_add.add_argument("--user", type=int, required=True, help="owner's UserID")
    domain_add.add_argument("--subdomain", help="return-path subdomain (default from config)")
    for action, handler in (("enable", cmd_domain_enable), ("disable", cmd_domain_disable)):
        sub = command(domain, action, handler, help=f"{action} a sender domain")
        sub.add_argument("id", type=int)
