"""campaigns: their content (campaign_emails), saved segments, campaigns and their runs; a
delivery's subscriber, and one delivery per recipient of a message (duplicates that SMTP
clients sent, RCPT TO twice, are removed first: the same address once is what was meant)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_emails",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("from_name", sa.String(length=255), nullable=False),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("reply_to_name", sa.String(length=255), nullable=False),
        sa.Column("reply_to_email", sa.String(length=320), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_campaign_emails_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_emails")),
    )
    with op.batch_alter_table("campaign_emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_emails_user_id"), ["user_id"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "Draft",
                "Ready",
                "Pending approval",
                "Scheduled",
                "Sending",
                "Paused",
                "Sent",
                "Failed",
                "Canceled",
                name="campaignstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("email_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column(
            "schedule_type",
            sa.Enum(
                "Not Scheduled",
                "Immediate",
                "Future",
                "Recursive",
                name="scheduletype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("send_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("recurrence", sa.JSON(), nullable=False),
        sa.Column("next_run_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("google_analytics_domains", sa.JSON(), nullable=False),
        sa.Column("publish_on_rss", sa.Boolean(), nullable=False),
        sa.Column("s2s_enabled", sa.Boolean(), nullable=False),
        sa.Column("approval_explanation", sa.Text(), nullable=False),
        sa.Column("resign_link", sa.String(length=2048), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["campaign_emails.id"],
            name=op.f("fk_campaigns_email_id_campaign_emails"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_campaigns_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("hash", name=op.f("uq_campaigns_hash")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_due", ["status", "next_run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_email_id"), ["email_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaigns_user_id"), ["user_id"], unique=False)

    op.create_table(
        "segments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("list_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["subscriber_lists.id"],
            name=op.f("fk_segments_list_id_subscriber_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_segments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("hash", name=op.f("uq_segments_hash")),
    )
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_segments_list_id"), ["list_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_segments_user_id"), ["user_id"], unique=False)

    op.create_table(
        "campaign_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queueing",
                "paused",
                "queued",
                "done",
                "canceled",
                "failed",
                name="runstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("target_index", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("skipped_inactive", sa.Integer(), nullable=False),
        sa.Column("skipped_suppressed", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("canceled", sa.Integer(), nullable=False),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("locked_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("queued_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_runs_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_campaign_runs_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_runs")),
        sa.UniqueConstraint(
            "campaign_id", "instance", name=op.f("uq_campaign_runs_campaign_id_instance")
        ),
    )
    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_runs_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index("ix_campaign_runs_status", ["status"], unique=False)

    # In place, not in batch mode: rebuilding `deliveries` on SQLite would be slow on a big queue.
    op.add_column(
        "deliveries",
        sa.Column(
            "subscriber_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
    )
    op.execute(
        "DELETE FROM deliveries WHERE id NOT IN "
        "(SELECT min(id) FROM deliveries GROUP BY message_id, recipient)"
    )
    op.drop_index("ix_deliveries_message_id", table_name="deliveries")
    op.create_index(
        "ix_deliveries_message_recipient", "deliveries", ["message_id", "recipient"], unique=True
    )
    op.create_index("ix_subscribers_list_id", "subscribers", ["list_id", "id"], unique=False)
    # A subscriber's events within a run's message (history, per-recipient reports): the
    # message's index extended by the delivery, in place of it.
    op.drop_index("ix_events_message_id", table_name="events")
    op.create_index(
        "ix_events_message_delivery", "events", ["message_id", "delivery_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_subscribers_list_id", table_name="subscribers")
    op.drop_index("ix_events_message_delivery", table_name="events")
    op.create_index("ix_events_message_id", "events", ["message_id"], unique=False)
    op.drop_index("ix_deliveries_message_recipient", table_name="deliveries")
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("subscriber_id")

    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_runs_status")
        batch_op.drop_index(batch_op.f("ix_campaign_runs_message_id"))

    op.drop_table("campaign_runs")
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segments_user_id"))
        batch_op.drop_index(batch_op.f("ix_segments_list_id"))

    op.drop_table("segments")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_user_id"))
        batch_op.drop_index(batch_op.f("ix_campaigns_email_id"))
        batch_op.drop_index("ix_campaigns_due")

    op.drop_table("campaigns")
    with op.batch_alter_table("campaign_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_emails_user_id"))

    op.drop_table("campaign_emails")
