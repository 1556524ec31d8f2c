"""webhooks, user permissions, shared rate-limit windows, conversions; messages by user and time
with their recipient count (sending limits)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 10:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Users that exist already keep every permission they had before permissions existed.
EVERY_PERMISSION = '["EmailGateway.AddDomain", "EmailGateway.ManageDomain"]'


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", "window_start", name="pk_rate_windows"),
    )
    op.create_table(
        "conversions",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("user_id", BigID, nullable=False),
        sa.Column("campaign_id", BigID, nullable=True),
        sa.Column("autoresponder_id", BigID, nullable=True),
        sa.Column("subscriber_id", BigID, nullable=True),
        sa.Column("list_id", BigID, nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_conversions_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_conversions"),
    )
    op.create_index("ix_conversions_user_campaign", "conversions", ["user_id", "campaign_id"])
    op.create_table(
        "webhooks",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("sender_domain_id", BigID, nullable=False),
        sa.Column(
            "event",
            sa.Enum(
                "delivery",
                "bounce",
                "open",
                "click",
                "unsubscribe",
                "complaint",
                name="webhookevent",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("disabled_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_domain_id"],
            ["sender_domains.id"],
            name="fk_webhooks_sender_domain_id_sender_domains",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.UniqueConstraint(
            "sender_domain_id", "event", "url", name="uq_webhooks_sender_domain_id_event_url"
        ),
    )
    op.create_index("ix_webhooks_sender_domain_id", "webhooks", ["sender_domain_id"])
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(
            sa.Column("recipient_count", sa.Integer(), nullable=False, server_default="1")
        )
    # Covering: a user's recipients over an hour or a day are summed from the index alone.
    op.create_index(
        "ix_messages_user_time", "messages", ["user_id", "created_at", "recipient_count"]
    )
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("permissions", sa.JSON(), nullable=False, server_default=EVERY_PERMISSION)
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("permissions")
    op.drop_index("ix_messages_user_time", table_name="messages")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("recipient_count")
    op.drop_index("ix_webhooks_sender_domain_id", table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_index("ix_conversions_user_campaign", table_name="conversions")
    op.drop_table("conversions")
    op.drop_table("rate_windows")
