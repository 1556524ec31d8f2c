"""The `mailgate` command line. Output for scripts is JSON on stdout; messages go to stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from dns_tools.names import dns_label
from mailgate.config import CONVERSION_KEY_FILE, ConfigError, Settings, load_settings
from mailgate.logs import configure_logging
from mta.ocrid import new_key
from mta.sender_records import records_for
from mta.sms_text import SmsError, check_sender_name
from storage import accounts, credentials, domains, sms_senders
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.models import DomainStatus, Permission

CONFIG_TEMPLATE = Path(__file__).with_name("config_template.toml")

ADMIN_KEY_FILE = "admin.key"


def say(message: str) -> None:
    print(message, file=sys.stderr)


def emit(data: Any) -> None:
    print(json.dumps(data, indent=2))


def with_engine(settings: Settings, work: Callable[[AsyncEngine], Awaitable[Any]]) -> Any:
    """Bring the schema up to date, then run `work` on an engine of the configured database."""
    upgrade(settings.database_url)

    async def run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def write_secret(path: Path, text: str, replace: bool = True) -> bool:
    """Write a file only its owner can read. With replace=False an existing file is kept (and
    False returned): a secret that links out in the world depend on is never overwritten."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    return True


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not settings.config_path.exists():
        settings.config_path.write_text(CONFIG_TEMPLATE.read_text())
        say(f"wrote {settings.config_path}")
    upgrade(settings.database_url)
    if not settings.tls_cert.exists() or not settings.tls_key.exists():
        from mailgate.tls import write_self_signed

        write_self_signed(settings.tls_cert, settings.tls_key, settings.hostname)
        say(f"wrote a self-signed certificate for {settings.hostname} to {settings.tls_cert}")
    conversion_key_file = settings.data_dir / CONVERSION_KEY_FILE
    if write_secret(conversion_key_file, new_key(), replace=False):
        say(f"created the conversion key that seals OCRIDs ({conversion_key_file})")
    key_file = settings.data_dir / ADMIN_KEY_FILE

    async def ensure_admin_key(engine: AsyncEngine) -> None:
        if await accounts.has_admin_key(engine):
            return
        write_secret(key_file, await accounts.create_admin_key(engine))
        say(f"created the admin API key; `mailgate admin-key` prints it ({key_file})")

    with_engine(settings, ensure_admin_key)
    say(f"Mailgate is initialised in {settings.data_dir}")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    # Before anything imports prometheus-client: every process of this `serve` writes its
    # counters to files in a directory of its own, which /metrics sums; a run starts from zero.
    metrics_root = settings.data_dir / "metrics"
    for stale in metrics_root.glob("*"):
        if not _process_alive(stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    metrics_dir = metrics_root / str(os.getpid())
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from mailgate.serve import serve

    if not settings.tls_cert.exists():
        say(f"no TLS certificate at {settings.tls_cert}: run `mailgate init` first")
        return 2
    if settings.conversion_key is None:
        key_file = settings.data_dir / CONVERSION_KEY_FILE
        say(f"no conversion key at {key_file}: run `mailgate init`, or set conversion_key")
        return 2
    return serve(settings)


def _process_alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from mailgate.serve import deliver_only

    return deliver_only(settings)


def cmd_admin_key(settings: Settings, args: argparse.Namespace) -> int:
    key_file = settings.data_dir / ADMIN_KEY_FILE
    if args.rotate:
        key = with_engine(settings, accounts.create_admin_key)
        write_secret(key_file, key)
        say("the admin API key was replaced; the previous one no longer works")
    elif key_file.exists():
        key = key_file.read_text().strip()
    else:
        say(f"{key_file} is missing: run `mailgate init`, or `mailgate admin-key --rotate`")
        return 1
    emit({"AdminAPIKey": key})
    return 0


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    try:
        user = with_engine(
            settings, lambda engine: accounts.create_user(engine, args.email, args.password)
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
    held = with_engine(
        settings,
        lambda engine: accounts.change_permissions(engine, args.id, args.grant, args.revoke),
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
    found = with_engine(
        settings, lambda engine: accounts.set_send_limits(engine, args.id, hourly, daily)
    )
    if not found:
        say(f"no user {args.id}")
        return 1
    emit({"UserID": args.id, "SendLimitHourly": hourly, "SendLimitDaily": daily})
    return 0


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


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "message_id": args.message,
        "recipient_domain": args.domain,
        "recipient": args.recipient,
    }


def cmd_queue(settings: Settings, args: argparse.Namespace) -> int:
    from storage import queue_admin

    emit(with_engine(settings, queue_admin.queue_summary))
    return 0


def cmd_queue_retry(settings: Settings, args: argparse.Namespace) -> int:
    from storage import queue_admin

    count = with_engine(settings, lambda e: queue_admin.retry_now(e, **_selection(args)))
    emit({"Retried": count})
    return 0


def cmd_queue_delete(settings: Settings, args: argparse.Namespace) -> int:
    from storage import queue_admin

    selection = _selection(args)
    if not any(selection.values()):
        say("name what to delete: --message ID, --domain DOMAIN or --recipient ADDRESS")
        return 1
    reason = f"removed from the queue by an operator: {args.reason}"
    count = with_engine(settings, lambda e: queue_admin.fail_pending(e, reason, **selection))
    emit({"Removed": count})
    return 0


def cmd_queue_explain(settings: Settings, args: argparse.Namespace) -> int:
    from storage import queue_admin

    limits = {
        "destination_concurrency": settings.destination_concurrency,
        "destination_rate_limit": settings.destination_rate_limit,
        "max_queue_lifetime": settings.max_queue_lifetime,
    }
    found = with_engine(settings, lambda e: queue_admin.explain(e, args.id, limits))
    if not found:
        say(f"no message or delivery {args.id!r} in the queue")
        return 1
    emit(found)
    return 0


def _calls(args: argparse.Namespace) -> Any:
    from storage.webhook_outbox import Selection

    event = getattr(args, "event", None)
    return Selection(
        outbox_id=getattr(args, "outbox", None),
        webhook_id=args.webhook,
        event_id=int(event.removeprefix("evt_")) if event else None,
        dead=args.dead,
    )


def cmd_webhooks_status(settings: Settings, args: argparse.Namespace) -> int:
    from storage import webhook_outbox

    calls = with_engine(settings, lambda e: webhook_outbox.list_calls(e, _calls(args), args.limit))
    for call in calls:
        print(json.dumps(call))
    return 0


def cmd_webhooks_replay(settings: Settings, args: argparse.Namespace) -> int:
    from storage import webhook_outbox

    if args.event and not args.event.removeprefix("evt_").isdigit():
        say(f"--event takes an event id (12 or evt_12), not {args.event!r}")
        return 2
    if not (args.outbox or args.dead or args.event):
        say("name what to replay: --outbox ID, --dead [--webhook ID] or --event ID")
        return 2
    count = with_engine(settings, lambda e: webhook_outbox.replay(e, _calls(args)))
    emit({"Replayed": count})
    return 0


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
        sender = with_engine(settings, lambda engine: operation(engine, args.user_id, name))
    except sms_senders.NotFound as error:
        say(str(error))
        return 1
    emit({"UserID": sender.user_id, "Name": sender.name, "Status": str(sender.status)})
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mailgate", description=__doc__)
    root.add_argument("--data-dir", help="data directory (default $MAILGATE_DATA_DIR or ./data)")
    commands = root.add_subparsers(dest="command", required=True)

    commands.add_parser(
        "init", help="create the data directory, config, database, TLS and admin key"
    )
    commands.add_parser("serve", help="run the SMTP listeners and the delivery workers")
    commands.add_parser("worker", help="run delivery workers only (scale delivery apart)")
    admin = commands.add_parser("admin-key", help="print the admin API key as JSON")
    admin.add_argument("--rotate", action="store_true", help="replace it with a new key")

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True
    )
    user_add = user.add_parser("add", help="create a user; prints its keys and REST credentials")
    user_add.add_argument("email")
    user_add.add_argument("--password", help="password for User.Login")
    permissions = user.add_parser("permissions", help="show, grant or revoke API permissions")
    permissions.add_argument("id", type=int, help="the UserID")
    choices = [str(p) for p in Permission]
    for flag in ("grant", "revoke"):
        permissions.add_argument(f"--{flag}", action="append", default=[], choices=choices)
    limits = user.add_parser("limits", help="set recipients per hour and per day (0: no limit)")
    limits.add_argument("id", type=int, help="the UserID")
    limits.add_argument("--hourly", type=int, default=0, help="recipients per hour")
    limits.add_argument("--daily", type=int, default=0, help="recipients per day")

    domain = commands.add_parser("domain", help="manage sender domains").add_subparsers(
        dest="action", required=True
    )
    domain_add = domain.add_parser("add", help="add a sender domain with its DKIM key")
    domain_add.add_argument("name")
    domain_add.add_argument("--user", type=int, required=True, help="owner's UserID")
    domain_add.add_argument("--subdomain", help="return-path subdomain (default from config)")
    for action in ("enable", "disable"):
        sub = domain.add_parser(action, help=f"{action} a sender domain")
        sub.add_argument("id", type=int)

    smtp = commands.add_parser("smtp", help="manage SMTP credentials").add_subparsers(
        dest="action", required=True
    )
    smtp_add = smtp.add_parser("add", help="create SMTP credentials for a domain")
    smtp_add.add_argument("--domain", type=int, required=True, help="DomainID")

    queue = commands.add_parser("queue", help="the delivery queue: counts, retry, delete, explain")
    queue_actions = queue.add_subparsers(dest="action")
    for action, helptext in (
        ("retry", "make deferred recipients due now"),
        ("delete", "remove pending recipients (marked failed, with an event)"),
    ):
        sub = queue_actions.add_parser(action, help=helptext)
        sub.add_argument("--message", type=uuid.UUID, help="a message id")
        sub.add_argument("--domain", help="a recipient domain")
        sub.add_argument("--recipient", help="one recipient address")
        if action == "delete":
            sub.add_argument("--reason", default="no reason given")
    explain = queue_actions.add_parser("explain", help="why a message or recipient is waiting")
    explain.add_argument("id", help="a message id, or a DeliveryID")

    hooks = commands.add_parser("webhooks", help="webhook calls: their state, and replay")
    hook_actions = hooks.add_subparsers(dest="action", required=True)
    status = hook_actions.add_parser("status", help="calls as JSON lines, newest first")
    replay = hook_actions.add_parser("replay", help="make calls pending and due now")
    for sub in (status, replay):
        sub.add_argument("--webhook", type=int, help="a WebhookID")
        sub.add_argument("--dead", action="store_true", help="dead-lettered calls only")
    status.add_argument("--limit", type=int, default=1000, help="at most this many calls")
    replay.add_argument("--outbox", type=int, help="one call, by its OutboxID")
    replay.add_argument("--event", help="the calls of one event (EventID, or evt_<n>)")

    sms = commands.add_parser("sms", help="SMS sender names").add_subparsers(
        dest="action", required=True
    )
    sms_sender = sms.add_parser("sender", help="an account's SMS sender names").add_subparsers(
        dest="step", required=True
    )
    for step, helptext in (
        ("add", "add a sender name, awaiting confirmation"),
        ("confirm", "confirm a sender name: SMS may be sent under it"),
    ):
        sub = sms_sender.add_parser(step, help=helptext)
        sub.add_argument("user_id", type=int, help="the UserID")
        sub.add_argument("name", help="at most 11 GSM characters, as phones will show it")
    return root


HANDLERS: dict[tuple[str, str | None], Callable[[Settings, argparse.Namespace], int]] = {
    ("init", None): cmd_init,
    ("serve", None): cmd_serve,
    ("worker", None): cmd_worker,
    ("admin-key", None): cmd_admin_key,
    ("user", "add"): cmd_user_add,
    ("user", "permissions"): cmd_user_permissions,
    ("user", "limits"): cmd_user_limits,
    ("domain", "add"): cmd_domain_add,
    ("domain", "enable"): cmd_domain_enable,
    ("domain", "disable"): cmd_domain_disable,
    ("smtp", "add"): cmd_smtp_add,
    ("queue", None): cmd_queue,
    ("queue", "retry"): cmd_queue_retry,
    ("queue", "delete"): cmd_queue_delete,
    ("queue", "explain"): cmd_queue_explain,
    ("webhooks", "status"): cmd_webhooks_status,
    ("webhooks", "replay"): cmd_webhooks_replay,
    ("sms", "sender"): cmd_sms_sender,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.data_dir:
        os.environ["MAILGATE_DATA_DIR"] = args.data_dir
    try:
        settings = load_settings()
    except ConfigError as error:
        say(f"mailgate: {error}")
        return 2
    configure_logging(settings.log_level, settings.log_format)
    handler = HANDLERS[(args.command, getattr(args, "action", None))]
    return handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
