"""Checks a command makes before it touches anything: can it open the data directory and the
database. A failure is one line naming the path and the setting to fix (exit 2), never a
traceback, and leaves nothing behind: `serve` refusing to start creates no file.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from mailgate.config import Settings
from mailgate.worker_health import describe
from storage.engine import is_sqlite, shown_url
from storage.migrate import latest_revision, schema_revision, upgrade

# How long a command waits for PostgreSQL before saying it cannot reach it.
CONNECT_TIMEOUT = 10.0


class Refusal(Exception):
    """Why a command will not run, as the one line the operator reads."""


def data_dir_usable(settings: Settings) -> None:
    """The data directory `mailgate init` made exists and this user may use it."""
    path = settings.data_dir
    where = f"(MAILGATE_DATA_DIR or --data-dir; `mailgate init --data-dir {path}` creates it)"
    if not path.exists():
        raise Refusal(f"data directory {path} does not exist {where}")
    if not path.is_dir():
        raise Refusal(f"data directory {path} is not a directory {where}")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise Refusal(f"data directory {path}: permission denied for this user {where}")


def database_reachable(settings: Settings) -> str | None:
    """The database exists (SQLite: the file `mailgate init` made) and answers a query; returns
    its schema's revision (None before the first migration), so a command that finds it
    current need not load the migrations."""
    url = settings.database_url
    if is_sqlite(url):
        _sqlite_file_usable(settings, Path(make_url(url).database or ""))
    try:
        options = {} if is_sqlite(url) else {"connect_args": {"timeout": CONNECT_TIMEOUT}}
        return asyncio.run(schema_revision(url, **options))
    except Exception as error:  # any failure to connect is reported as one line
        raise Refusal(
            f"cannot open the database {shown_url(url)} ({_named(settings, 'database_url')}): "
            f"{describe(error)}"
        ) from None


def _sqlite_file_usable(settings: Settings, path: Path) -> None:
    setting = _named(settings, "database_url")
    if not path.exists():
        raise Refusal(f"database {path} does not exist ({setting}): run `mailgate init` first")
    # WAL mode writes a -wal and a -shm file beside the database.
    for needed in (path, path.parent):
        if not os.access(needed, os.R_OK | os.W_OK):
            raise Refusal(f"database {path}: {needed} is not writable by this user ({setting})")


def ensure_schema(settings: Settings) -> None:
    """Check the database as `database_reachable` does, and migrate it when it is behind."""
    if database_reachable(settings) != latest_revision():
        upgrade(settings.database_url)


def _named(settings: Settings, name: str) -> str:
    """A setting as the operator sets it, and where this value came from."""
    source = settings.sources.get(name, "default")
    origin = "its default" if source == "default" else source
    return f"setting {name}, MAILGATE_{name.upper()}; from {origin}"
