"""Commands that set an installation up and run it: init, serve, worker, admin-key."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from mailgate import cluster
from mailgate.cli.output import command, emit, run_with_database, say, with_database
from mailgate.config import Settings
from mailgate.deployment_checks import deployment_warnings
from mailgate.preflight import Refusal, data_dir_usable, database_reachable, ensure_schema
from mailgate.worker_health import process_alive
from storage import accounts
from storage.engine import Database, is_sqlite, shown_url
from storage.migrate import upgrade

log = logging.getLogger("mailgate.serve")

CONFIG_TEMPLATE = Path(__file__).parent.parent / "config_template.toml"


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    database_reachable_or_new(settings)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise Refusal(
            f"cannot create the data directory {settings.data_dir} (MAILGATE_DATA_DIR or "
            f"--data-dir): {error.strerror}"
        ) from None
    upgrade(settings.database_url)
    # The cluster's secrets first: a node that would fork them writes nothing else.
    replace = args.replace_conversion_key
    if run_with_database(settings, lambda db: cluster.join_or_found(db, settings, replace)):
        say(f"created the conversion key that seals OCRIDs ({settings.conversion_key_path})")
    if not settings.config_path.exists():
        settings.config_path.write_text(CONFIG_TEMPLATE.read_text())
        say(f"wrote {settings.config_path}")
    if not settings.tls_cert.exists() or not settings.tls_key.exists():
        from mailgate.tls import write_self_signed

        write_self_signed(settings.tls_cert, settings.tls_key, settings.hostname)
        say(f"wrote a self-signed certificate for {settings.hostname} to {settings.tls_cert}")
    key_file = settings.data_dir / cluster.ADMIN_KEY_FILE

    async def ensure_admin_key(db: Database) -> None:
        if not await accounts.has_admin_key(db):
            cluster.write_secret(key_file, await accounts.create_admin_key(db))
            say(f"created the admin API key; `mailgate admin-key` prints it ({key_file})")
        elif not key_file.exists():
            say(
                "this database's admin key was made on another node: `mailgate admin-key` there "
                f"prints it (copy its admin.key to {key_file}), or rotate it with "
                "`mailgate admin-key --rotate`"
            )

    run_with_database(settings, ensure_admin_key)
    say(f"Mailgate is initialised in {settings.data_dir}")
    return 0


def database_reachable_or_new(settings: Settings) -> None:
    """init creates a SQLite database; any other must exist and answer."""
    if not is_sqlite(settings.database_url):
        database_reachable(settings)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    # Everything that can refuse comes before anything is created (the metrics directory).
    data_dir_usable(settings)
    ensure_schema(settings)
    if not settings.tls_cert.exists():
        raise Refusal(
            f"no TLS certificate at {settings.tls_cert} (tls_cert, MAILGATE_TLS_CERT): "
            "run `mailgate init` first"
        )
    run_with_database(settings, lambda db: node_ready(db, settings))
    log.info(
        "config file %s; data directory %s; database %s",
        settings.config_path if settings.config_path.exists() else "none (defaults and MAILGATE_*)",
        settings.data_dir,
        shown_url(settings.database_url),
    )
    for warning in deployment_warnings(settings):
        log.warning("%s", warning)
    # Before anything imports prometheus-client: every process of this `serve` writes its
    # counters to files in a directory of its own, which /metrics sums; a run starts from zero.
    metrics_root = settings.data_dir / "metrics"
    for stale in metrics_root.glob("*"):
        if not process_alive(stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    metrics_dir = metrics_root / str(os.getpid())
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from mailgate.serve import serve

    try:
        return serve(settings)
    finally:
        # The counters are this run's (/metrics serves them while it runs): nothing to keep.
        shutil.rmtree(metrics_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # another serve's counters may be there
            metrics_root.rmdir()


async def node_ready(db: Database, settings: Settings) -> None:
    """The checks a node makes against the cluster before it serves."""
    await cluster.check_conversion_key(db, settings)
    key_file = settings.data_dir / cluster.ADMIN_KEY_FILE
    if await cluster.admin_key_file_state(db, key_file) == "stale":
        cluster.warn_stale_admin_key(key_file)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    data_dir_usable(settings)
    ensure_schema(settings)
    run_with_database(settings, lambda db: cluster.check_conversion_key(db, settings))
    from mailgate.serve import deliver_only

    return deliver_only(settings)


def cmd_admin_key(settings: Settings, args: argparse.Namespace) -> int:
    key_file = settings.data_dir / cluster.ADMIN_KEY_FILE
    if args.rotate:
        key = with_database(settings, accounts.create_admin_key)
        cluster.write_secret(key_file, key)
        say(
            "the admin API key was replaced on every node; the previous one no longer works "
            "(other nodes' admin.key files are now out of date)"
        )
        emit({"AdminAPIKey": key})
        return 0
    state = with_database(settings, lambda db: cluster.admin_key_file_state(db, key_file))
    if state == "current":
        emit({"AdminAPIKey": key_file.read_text().strip()})
        return 0
    if state == "stale":
        say(
            f"{key_file} holds an admin key that was replaced (rotated, maybe on another node): "
            "copy admin.key from the node that rotated it, or `mailgate admin-key --rotate`"
        )
    else:
        say(
            f"{key_file} is missing: the admin key is kept only as a hash in the database, "
            "so copy admin.key from the node that made it (the first `mailgate init`), or "
            "`mailgate admin-key --rotate` for a new one"
        )
    return 1


def register(commands: Any) -> None:
    init = command(
        commands, "init", cmd_init,
        help="create the data directory, config, database, TLS and admin key",
    )  # fmt: skip
    init.add_argument(
        "--replace-conversion-key", action="store_true",
        help="make a new conversion key for every node when every copy of the old one is lost",
    )  # fmt: skip
    command(commands, "serve", cmd_serve, help="run the SMTP listeners and the delivery workers")
    command(commands, "worker", cmd_worker, help="run delivery workers only (scale delivery apart)")
    admin = command(commands, "admin-key", cmd_admin_key, help="print the admin API key as JSON")
    admin.add_argument("--rotate", action="store_true", help="replace it with a new key")
