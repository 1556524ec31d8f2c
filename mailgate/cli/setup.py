"""Commands that set an installation up and run it: init, serve, worker, admin-key."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from mailgate.cli.output import command, emit, say, with_engine
from mailgate.config import CONVERSION_KEY_FILE, Settings
from mta.ocrid import new_key
from storage import accounts
from storage.migrate import upgrade

CONFIG_TEMPLATE = Path(__file__).parent.parent / "config_template.toml"

ADMIN_KEY_FILE = "admin.key"


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


def register(commands: Any) -> None:
    command(
        commands, "init", cmd_init,
        help="create the data directory, config, database, TLS and admin key",
    )  # fmt: skip
    command(commands, "serve", cmd_serve, help="run the SMTP listeners and the delivery workers")
    command(commands, "worker", cmd_worker, help="run delivery workers only (scale delivery apart)")
    admin = command(commands, "admin-key", cmd_admin_key, help="print the admin API key as JSON")
    admin.add_argument("--rotate", action="store_true", help="replace it with a new key")
