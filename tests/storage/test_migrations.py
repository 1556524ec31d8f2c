"""Migrations build the whole model and are idempotent; SQLite connections are durable."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import Database
from storage.migrate import upgrade_async
from storage.models import Base


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migrations_create_every_model_table_and_run_twice(
    db_url: str, engine: AsyncEngine
) -> None:
    assert set(Base.metadata.tables) <= await table_names(engine)
    async with engine.connect() as conn:
        head = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    await upgrade_async(db_url)  # already at head: nothing to do, nothing breaks
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == head
        assert await conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1


async def test_model_columns_match_the_migrated_schema(engine: AsyncEngine) -> None:
    """A model column without a migration would fail only at run time; catch it here."""

    def columns(sync: object) -> dict[str, set[str]]:
        inspector = inspect(sync)
        return {t: {c["name"] for c in inspector.get_columns(t)} for t in Base.metadata.tables}

    async with engine.connect() as conn:
        migrated = await conn.run_sync(columns)
    for name, table in Base.metadata.tables.items():
        assert {c.name for c in table.columns} == migrated[name], name


async def test_sqlite_connections_are_durable(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/pragmas.db"
    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            pragmas = [
                await conn.scalar(text(f"PRAGMA {name}"))
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
        assert pragmas[:3] == ["wal", 2, 1] and pragmas[3] >= 1000
        read = [await db.scalar(text(f"PRAGMA {p}")) for p in ("synchronous", "foreign_keys")]
        assert read == [2, 1]
        write = await db.write(lambda conn: conn.execute(text("PRAGMA synchronous")).scalar())
        assert write == 2
    finally:
        await db.dispose()
