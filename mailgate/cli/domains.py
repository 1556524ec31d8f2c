"""`mailgate domain ...`: sender domains and the DNS records they publish."""

from __future__ import annotations

import argparse
from typing import Any

from dns_tools.names import dns_label
from mailgate.cli.output import command, emit, emit_lines, group, say, with_database, with_existing
from mailgate.config import Settings
from mailgate.deployment_checks import deployment_warnings
from mta.submission.sender_records import records_for
from storage import accounts, domains
from storage.models import DomainStatus, SenderDomain, iso_time


def domain_view(settings: Settings, domain: Any) -> dict[str, Any]:
    """The domain and the records to publish, with what is wrong in them on this gateway (its
    hostname in the SPF include and CNAMEs, its public_url in the links)."""
    return_path = domains.return_path_domain(domain, settings.return_path_subdomain)
    records = records_for(domain, settings)
    return {
        "DomainID": domain.id,
        "SenderDomain": domain.name,
        "Status": str(domain.status),
        "ReturnPathDomain": return_path,
        "DKIMSelector": domain.dkim_selector,
        "DNSRecords": [record.as_dict() for record in records],
        "Warnings": deployment_warnings(settings),
    }


def emit_domain(view: dict[str, Any]) -> None:
    emit(view)
    for warning in view["Warnings"]:
        say(f"WARNING: {warning}")


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
    domain = with_existing(
        settings,
        lambda db: domains.add_domain(
            db, args.user, name, settings.return_path_subdomain, subdomain
        ),
        domains.NotFound, domains.LimitReached, accounts.AlreadyExists,
    )  # fmt: skip
    emit_domain(domain_view(settings, domain))
    say("publish the DNS records above, then enable the domain: mailgate domain enable ID")
    return 0


def _set_status(settings: Settings, domain_id: int, status: DomainStatus) -> int:
    with_existing(
        settings,
        lambda db: domains.set_domain_status(db, domain_id, status),
        domains.NotFound,
    )
    emit({"DomainID": domain_id, "Status": str(status)})
    return 0


def domain_state(domain: SenderDomain) -> dict[str, Any]:
    """Whose a domain is and whether it may send (Enabled) and was seen in DNS (Verified): a
    row of `domain list`, and the head of `domain show`."""
    return {
        "DomainID": domain.id,
        "SenderDomain": domain.name,
        "UserID": domain.user_id,
        "Status": str(domain.status),
        "Enabled": domain.status == DomainStatus.ENABLED,
        "Verified": domain.verified_at is not None,
        "VerifiedAt": iso_time(domain.verified_at),
        "CreatedAt": iso_time(domain.created_at),
    }


def cmd_domain_list(settings: Settings, args: argparse.Namespace) -> int:
    found = with_database(settings, lambda db: domains.list_domains(db, args.user))
    emit_lines([domain_state(domain) for domain in found])
    return 0


def cmd_domain_show(settings: Settings, args: argparse.Namespace) -> int:
    domain = with_existing(settings, lambda db: domains.get_domain(db, args.id), domains.NotFound)
    emit_domain({**domain_state(domain), **domain_view(settings, domain)})
    return 0


def cmd_domain_delete(settings: Settings, args: argparse.Namespace) -> int:
    """The same deletion as the API's `emailgateway.deletedomain` (storage.domains.delete_domain):
    the domain goes with its DKIM key, SMTP credentials, API keys, webhooks and suppressions;
    its pending mail is marked failed; its messages and events stay, for the statistics."""
    failed = with_existing(
        settings, lambda db: domains.delete_domain(db, args.id), domains.NotFound
    )
    emit({"DomainID": args.id, "Deleted": True, "FailedRecipients": failed})
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
    domain_list = command(
        domain, "list", cmd_domain_list, help="sender domains as JSON lines, oldest first"
    )
    domain_list.add_argument("--user", type=int, help="only this UserID's domains")
    for action, handler, helptext in (
        ("enable", cmd_domain_enable, "enable a sender domain"),
        ("disable", cmd_domain_disable, "disable a sender domain"),
        ("show", cmd_domain_show, "a sender domain and the DNS records it publishes"),
        ("delete", cmd_domain_delete, "delete a sender domain; its pending mail is not sent"),
    ):
        sub = command(domain, action, handler, help=helptext)
        sub.add_argument("id", type=int, help="the DomainID")
