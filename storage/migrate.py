"""Schema migrations, run programmatically so `mailgate init` needs no alembic.ini.

Alembic is imported only when a migration may be due: every `mailgate` command checks the schema,
and importing alembic to learn there is nothing to do would cost it a fifth of its start-up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"

# The table alembic records the schema's revision in.
VERSION_QUERY = "SELECT version_num FROM alembic_version"


def latest_revision() -> str:
    """The newest migration's revision: migrations are named `NNNN_what.py` with revision
    `NNNN` (tests/storage/test_migrations.py holds alembic's own head to this)."""
    names = (path.name for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return max(name[:4] for name in names)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema; a no-op when it is current."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


async def upgrade_async(url: str) -> None:
    """`upgrade` from inside a running event loop (alembic's env runs its own loop)."""
    await asyncio.to_thread(upgrade, url)


async def schema_revision(url: str, **engine_options: Any) -> str | None:
    """The revision the database at `url` is at, None before the first migration; a failure
    to connect is raised as such."""
    db = Database(url, **engine_options)
    try:
        await db.rows(text("SELECT 1"))
        try:
            revision = await db.scalar(text(VERSION_QUERY))
        except DBAPIError:  # no alembic_version table: nothing migrated yet
            return None
        return None if revision is None else str(revision)
    finally:
        await db.dispose()
