"""Migrations build the whole model and are idempotent; SQLite connections are durable."""

from __future__ import annotations

import asyncio
import base64

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import accounts
from storage.engine import Database
from storage.migrate import alembic_config, latest_revision, upgrade_async
from storage.models import ALL_PERMISSIONS, Base, Suppression, SuppressionScope, User


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


def test_the_latest_revision_commands_compare_with_is_alembics_head() -> None:
    """Commands skip loading the migrations when the schema is at `latest_revision()`: it must
    be the head alembic would migrate to, or a new migration would never run."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert heads == [latest_revision()]


async def migrate_to(db_url: str, revision: str) -> None:
    """Run alembic to `revision` (downgrading when it is older than the current one)."""
    config = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, config, revision)


async def test_upgrade_builds_an_emptied_database_again(db_url: str, engine: AsyncEngine) -> None:
    """From no tables at all (every migration undone) to the whole model."""
    await migrate_to(db_url, "base")
    assert not set(Base.metadata.tables) & await table_names(engine)
    await upgrade_async(db_url)
    assert set(Base.metadata.tables) <= await table_names(engine)
    user = await accounts.create_user(engine, "ada@example.com")  # and the tables work
    assert user.user_id > 0


async def test_suppression_migration_keeps_one_row_per_entry(
    db_url: str, engine: AsyncEngine
) -> None:
    """Duplicates stored before the unique entry index are merged into the oldest row."""
    await migrate_to(db_url, "0001")
    user_id = await _user_before_permissions(engine)
    rows = [
        {"address": "x@example.org", "user_id": None, "reason": "first"},
        {"address": "x@example.org", "user_id": None, "reason": "second"},
        {"address": "x@example.org", "user_id": user_id, "reason": "first"},
        {"address": "x@example.org", "user_id": user_id, "reason": "second"},
        {"address": "y@example.org", "user_id": user_id, "reason": "first"},
    ]
    async with engine.begin() as conn:
        for row in rows:
            scope = SuppressionScope.ACCOUNT if row["user_id"] else SuppressionScope.GLOBAL
            await conn.execute(
                Suppression.__table__.insert().values(**row, scope=scope, source="test")
            )
    await upgrade_async(db_url)
    async with engine.connect() as conn:
        kept = (
            await conn.execute(
                select(Suppression.address, Suppression.user_id, Suppression.reason).order_by(
                    Suppression.id
                )
            )
        ).all()
    assert [tuple(row) for row in kept] == [
        ("x@example.org", None, "first"),
        ("x@example.org", user_id, "first"),
        ("y@example.org", user_id, "first"),
    ]
    with pytest.raises(IntegrityError):  # the database itself now refuses a second copy
        async with engine.begin() as conn:
            await conn.execute(
                Suppression.__table__.insert().values(
                    **rows[1], scope=SuppressionScope.GLOBAL, source="test"
                )
            )


async def _user_before_permissions(engine: AsyncEngine, email: str = "ada@example.com") -> int:
    """A user row written by a schema older than 0004 (no permissions column)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "INSERT INTO users (email, status, trusted, max_sender_domains,"
                " requires_campaign_approval, created_at) VALUES (:email, 'active',"
                " true, 10, false, CURRENT_TIMESTAMP) RETURNING id"
            ),
            {"email": email},
        )
        return int(result.scalar_one())


async def test_users_from_before_permissions_keep_every_permission(
    db_url: str, engine: AsyncEngine
) -> None:
    await migrate_to(db_url, "0003")
    user_id = await _user_before_permissions(engine)
    await upgrade_async(db_url)
    async with engine.connect() as conn:
        permissions = (
            await conn.execute(select(User.permissions).where(User.id == user_id))
        ).scalar_one()
    assert sorted(permissions) == sorted(ALL_PERMISSIONS)


async def test_users_from_before_rest_get_credentials_and_keep_what_refers_to_them(
    db_url: str, engine: AsyncEngine
) -> None:
    await migrate_to(db_url, "0003")
    first, second = (
        await _user_before_permissions(engine),
        await _user_before_permissions(engine, "bob@example.com"),
    )
    async with engine.begin() as conn:
        await conn.execute(
            Suppression.__table__.insert().values(
                address="x@example.org", user_id=first, reason="r", scope="account", source="t"
            )
        )
    await upgrade_async(db_url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(User.rest_api_key, User.rest_secret_salt, User.account_hash, User.phone)
            )
        ).all()
        kept = (await conn.execute(select(Suppression.user_id))).scalars().all()
    assert len(rows) == 2 and len({row[0] for row in rows}) == 2
    assert all(
        len(key) == 32 and len(salt) == 32 and hash_ and phone == ""
        for key, salt, hash_, phone in rows
    )
    assert kept == [first] and second != first  # adding the columns rebuilt nothing


async def test_signing_keys_that_verifiers_cannot_decode_are_replaced(
    db_url: str, engine: AsyncEngine
) -> None:
    """Before 0005 keys were URL-safe base64; one with `-` or `_` is replaced, a good one kept."""
    await migrate_to(db_url, "0004")
    user_id = await _user_before_permissions(engine)
    good = "whsec_" + base64.b64encode(bytes(range(24))).decode()
    async with engine.begin() as conn:
        for name, key in (("a.example", "whsec_ab-_" + "A" * 22), ("b.example", good)):
            await conn.execute(
                text(
                    "INSERT INTO sender_domains (user_id, name, status, link_tracking,"
                    " open_tracking, unsubscribe_link, track_prefix_disabled, dkim_selector,"
                    " dkim_private_key, webhook_signing_key, created_at) VALUES (:user, :name,"
                    " 'Enabled', true, true, false, false, 's', 'k', :key, CURRENT_TIMESTAMP)"
                ),
                {"user": user_id, "name": name, "key": key},
            )
    await upgrade_async(db_url)
    async with engine.connect() as conn:
        keys = dict(
            (await conn.execute(text("SELECT name, webhook_signing_key FROM sender_domains"))).all()
        )
    assert keys["b.example"] == good
    secret = keys["a.example"].removeprefix("whsec_")
    assert len(base64.b64decode(secret, validate=True)) == 24


async def test_model_columns_match_the_migrated_schema(engine: AsyncEngine) -> None:
    """A model column without a migration would fail only at run time; catch it here."""

    def columns(sync: object) -> dict[str, set[str]]:
        inspector = inspect(sync)
        return {t: {c["name"] for c in inspector.get_columns(t)} for t in Base.metadata.tables}

    async with engine.connect() as conn:
        migrated = await conn.run_sync(columns)
    for name, table in Base.metadata.tables.items():
        assert {c.name for c in table.columns} == migrated[name], name


@pytest.mark.filterwarnings("ignore:.*expression-based index")
async def test_the_migrated_schema_is_what_the_models_describe(engine: AsyncEngine) -> None:
    """Alembic's autogenerate, types compared, finds nothing to change: columns, types,
    nullability, indexes and constraints of every model (storage/models/, every module of it)
    are what the migrations built, so reshaping the models changed no schema."""

    def differences(sync: Connection) -> list[object]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []


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
