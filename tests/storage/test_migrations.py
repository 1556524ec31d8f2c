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

from storage import accounts
from storage.engine import Database
from storage.migrate import alembic_config, latest_revision, upgrade_async
from storage.models import ALL_PERMISSIONS, Base, Suppression, SuppressionScope, User


async def table_names(db: Database) -> set[str]:
    return set(await db.write(lambda conn: inspect(conn).get_table_names()))


async def test_migrations_create_every_model_table_and_run_twice(db_url: str, db: Database) -> None:
    assert set(Base.metadata.tables) <= await table_names(db)
    head = await db.scalar(text("SELECT version_num FROM alembic_version"))
    await upgrade_async(db_url)  # already at head: nothing to do, nothing breaks
    assert await db.scalar(text("SELECT version_num FROM alembic_version")) == head
    assert await db.scalar(text("SELECT count(*) FROM alembic_version")) == 1


def test_the_latest_revision_commands_compare_with_is_alembics_head() -> None:
    """Commands skip loading the migrations when the schema is at `latest_revision()`: it must
    be the head alembic would migrate to, or a new migration would never run."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert heads == [latest_revision()]


async def migrate_to(db_url: str, revision: str) -> None:
    """Run alembic to `revision` (downgrading when it is older than the current one)."""
    config = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, config, revision)


async def test_upgrade_builds_an_emptied_database_again(db_url: str, db: Database) -> None:
    """From no tables at all (every migration undone) to the whole model."""
    await migrate_to(db_url, "base")
    assert not set(Base.metadata.tables) & await table_names(db)
    await upgrade_async(db_url)
    assert set(Base.metadata.tables) <= await table_names(db)
    user = await accounts.create_user(db, "ada@example.com")  # and the tables work
    assert user.user_id > 0


async def test_suppression_migration_keeps_one_row_per_entry(db_url: str, db: Database) -> None:
    """Duplicates stored before the unique entry index are merged into the oldest row."""
    await migrate_to(db_url, "0001")
    user_id = await _user_before_permissions(db)
    rows = [
        {"address": "x@example.org", "user_id": None, "reason": "first"},
        {"address": "x@example.org", "user_id": None, "reason": "second"},
        {"address": "x@example.org", "user_id": user_id, "reason": "first"},
        {"address": "x@example.org", "user_id": user_id, "reason": "second"},
        {"address": "y@example.org", "user_id": user_id, "reason": "first"},
    ]

    def setup(conn: Connection) -> None:
        for row in rows:
            scope = SuppressionScope.ACCOUNT if row["user_id"] else SuppressionScope.GLOBAL
            conn.execute(Suppression.__table__.insert().values(**row, scope=scope, source="test"))

    await db.write(setup)
    await upgrade_async(db_url)
    kept = await db.rows(
        select(Suppression.address, Suppression.user_id, Suppression.reason).order_by(
            Suppression.id
        )
    )
    assert [tuple(row) for row in kept] == [
        ("x@example.org", None, "first"),
        ("x@example.org", user_id, "first"),
        ("y@example.org", user_id, "first"),
    ]
    with pytest.raises(IntegrityError):  # the database itself now refuses a second copy

        def setup(conn: Connection) -> None:
            conn.execute(
                Suppression.__table__.insert().values(
                    **rows[1], scope=SuppressionScope.GLOBAL, source="test"
                )
            )

        await db.write(setup)


async def _user_before_permissions(db: Database, email: str = "ada@example.com") -> int:
    """A user row written by a schema older than 0004 (no permissions column)."""
    insert = text(
        "INSERT INTO users (email, status, trusted, max_sender_domains,"
        " requires_campaign_approval, created_at) VALUES (:email, 'active',"
        " true, 10, false, CURRENT_TIMESTAMP) RETURNING id"
    )
    return int(await db.write(lambda conn: conn.execute(insert, {"email": email}).scalar_one()))


async def test_users_from_before_permissions_keep_every_permission(
    db_url: str, db: Database
) -> None:
    await migrate_to(db_url, "0003")
    user_id = await _user_before_permissions(db)
    await upgrade_async(db_url)
    permissions = await db.scalar(select(User.permissions).where(User.id == user_id))
    assert sorted(permissions) == sorted(ALL_PERMISSIONS)


async def test_users_from_before_rest_get_credentials_and_keep_what_refers_to_them(
    db_url: str, db: Database
) -> None:
    await migrate_to(db_url, "0003")
    first, second = (
        await _user_before_permissions(db),
        await _user_before_permissions(db, "bob@example.com"),
    )

    def setup(conn: Connection) -> None:
        conn.execute(
            Suppression.__table__.insert().values(
                address="x@example.org", user_id=first, reason="r", scope="account", source="t"
            )
        )

    await db.write(setup)
    await upgrade_async(db_url)
    rows = await db.rows(
        select(User.rest_api_key, User.rest_secret_salt, User.account_hash, User.phone)
    )
    kept = [row[0] for row in await db.rows(select(Suppression.user_id))]
    assert len(rows) == 2 and len({row[0] for row in rows}) == 2
    assert all(
        len(key) == 32 and len(salt) == 32 and hash_ and phone == ""
        for key, salt, hash_, phone in rows
    )
    assert kept == [first] and second != first  # adding the columns rebuilt nothing


async def test_signing_keys_that_verifiers_cannot_decode_are_replaced(
    db_url: str, db: Database
) -> None:
    """Before 0005 keys were URL-safe base64; one with `-` or `_` is replaced, a good one kept."""
    await migrate_to(db_url, "0004")
    user_id = await _user_before_permissions(db)
    good = "whsec_" + base64.b64encode(bytes(range(24))).decode()

    def setup(conn: Connection) -> None:
        for name, key in (("a.example", "whsec_ab-_" + "A" * 22), ("b.example", good)):
            conn.execute(
                text(
                    "INSERT INTO sender_domains (user_id, name, status, link_tracking,"
                    " open_tracking, unsubscribe_link, track_prefix_disabled, dkim_selector,"
                    " dkim_private_key, webhook_signing_key, created_at) VALUES (:user, :name,"
                    " 'Enabled', true, true, false, false, 's', 'k', :key, CURRENT_TIMESTAMP)"
                ),
                {"user": user_id, "name": name, "key": key},
            )

    await db.write(setup)
    await upgrade_async(db_url)
    keys = dict(await db.rows(text("SELECT name, webhook_signing_key FROM sender_domains")))
    assert keys["b.example"] == good
    secret = keys["a.example"].removeprefix("whsec_")
    assert len(base64.b64decode(secret, validate=True)) == 24


async def test_model_columns_match_the_migrated_schema(db: Database) -> None:
    """A model column without a migration would fail only at run time; catch it here."""

    def columns(sync: object) -> dict[str, set[str]]:
        inspector = inspect(sync)
        return {t: {c["name"] for c in inspector.get_columns(t)} for t in Base.metadata.tables}

    migrated = await db.write(columns)
    for name, table in Base.metadata.tables.items():
        assert {c.name for c in table.columns} == migrated[name], name


@pytest.mark.filterwarnings("ignore:.*expression-based index")
async def test_the_migrated_schema_is_what_the_models_describe(db: Database) -> None:
    """Alembic's autogenerate, types compared, finds nothing to change: columns, types,
    nullability, indexes and constraints of every model (storage/models/, every module of it)
    are what the migrations built, so reshaping the models changed no schema."""

    def differences(sync: Connection) -> list[object]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    assert await db.write(differences) == []


async def test_sqlite_connections_are_durable(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/pragmas.db"
    await upgrade_async(url)
    db = Database(url)
    try:
        names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        read = [await db.scalar(text(f"PRAGMA {name}")) for name in names]
        write = await db.write(
            lambda conn: [conn.execute(text(f"PRAGMA {name}")).scalar() for name in names]
        )
        assert read[:3] == write[:3] == ["wal", 2, 1]
        assert read[3] >= 1000 and write[3] >= 1000
    finally:
        await db.dispose()
