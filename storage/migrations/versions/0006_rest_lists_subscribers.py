"""the signed REST API: users' REST credentials (every existing user gets a key and a secret
salt) and account fields; subscriber lists, their custom fields and subscribers; SMS sender
names; background jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 19:42:07.791227
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "background_jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("pending", "done", "failed", name="jobstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("locked_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_background_jobs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_background_jobs")),
    )
    with op.batch_alter_table("background_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_background_jobs_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_background_jobs_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sms_senders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=11), nullable=False),
        sa.Column("confirmed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sms_senders_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_senders")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_sms_senders_user_id_name")),
    )
    op.create_table(
        "subscriber_lists",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscriber_lists_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_lists")),
        sa.UniqueConstraint("hash", name=op.f("uq_subscriber_lists_hash")),
    )
    with op.batch_alter_table("subscriber_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriber_lists_user_id"), ["user_id"], unique=False)

    op.create_table(
        "list_fields",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("list_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("numeric", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["subscriber_lists.id"],
            name=op.f("fk_list_fields_list_id_subscriber_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_fields")),
        sa.UniqueConstraint("hash", name=op.f("uq_list_fields_hash")),
        sa.UniqueConstraint("list_id", "tag", name=op.f("uq_list_fields_list_id_tag")),
    )
    op.create_table(
        "subscribers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("list_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["subscriber_lists.id"],
            name=op.f("fk_subscribers_list_id_subscriber_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("list_id", "email", name=op.f("uq_subscribers_list_id_email")),
    )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.create_index("ix_subscribers_email", ["email"], unique=False)
        batch_op.create_index("ix_subscribers_list_state", ["list_id", "state"], unique=False)

    # Columns added in place (no batch rebuild of `users` on SQLite: dropping the old table
    # would cascade to the rows that refer to users).
    op.add_column("users", sa.Column("rest_api_key", sa.String(length=32), nullable=True))
    op.add_column("users", sa.Column("rest_secret_salt", sa.String(length=32), nullable=True))
    op.add_column("users", sa.Column("account_hash", sa.String(length=32), nullable=True))
    op.add_column("users", sa.Column("parent_user_id", BigID, nullable=True))
    for name, length in (("first_name", 128), ("last_name", 128), ("company", 255), ("phone", 32)):
        op.add_column(
            "users",
            sa.Column(name, sa.String(length=length), nullable=False, server_default=""),
        )
    op.create_index("ix_users_rest_api_key", "users", ["rest_api_key"], unique=True)
    op.create_index("ix_users_account_hash", "users", ["account_hash"], unique=True)
    op.create_index("ix_users_parent_user_id", "users", ["parent_user_id"])

    _give_existing_users_rest_credentials()


def _give_existing_users_rest_credentials() -> None:
    """Every user has REST credentials (DESIGN: a new user can use every surface at once)."""
    users = sa.table(
        "users",
        sa.column("id", sa.Integer),
        sa.column("rest_api_key", sa.String),
        sa.column("rest_secret_salt", sa.String),
        sa.column("account_hash", sa.String),
    )
    conn = op.get_bind()
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(
                rest_api_key=secrets.token_hex(16),
                rest_secret_salt=secrets.token_hex(16),
                account_hash=secrets.token_hex(5),
            )
        )


def downgrade() -> None:
    for index in ("ix_users_parent_user_id", "ix_users_account_hash", "ix_users_rest_api_key"):
        op.drop_index(index, table_name="users")
    for column in (
        "phone",
        "company",
        "last_name",
        "first_name",
        "parent_user_id",
        "account_hash",
        "rest_secret_salt",
        "rest_api_key",
    ):
        op.drop_column("users", column)

    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_list_state")
        batch_op.drop_index("ix_subscribers_email")

    op.drop_table("subscribers")
    op.drop_table("list_fields")
    with op.batch_alter_table("subscriber_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_lists_user_id"))

    op.drop_table("subscriber_lists")
    op.drop_table("sms_senders")
    with op.batch_alter_table("background_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_background_jobs_user_id"))
        batch_op.drop_index("ix_background_jobs_due")

    op.drop_table("background_jobs")
