"""the webhook outbox: one row per event and subscribed webhook, claimed with a lease; webhook
signing keys that Standard Webhooks verifiers cannot decode are replaced

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

import base64
import binascii
import secrets

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("event_id", BigID, nullable=False),
        sa.Column("webhook_id", BigID, nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "dead",
                name="outboxstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_response", sa.String(length=500), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("locked_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name="fk_webhook_outbox_event_id_events",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name="fk_webhook_outbox_webhook_id_webhooks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
        sa.UniqueConstraint("event_id", "webhook_id", name="uq_webhook_outbox_event_id_webhook_id"),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_outbox_webhook_status", "webhook_outbox", ["webhook_id", "status"])
    _replace_undecodable_signing_keys()


def _decodable(key: str) -> bool:
    """What Standard Webhooks verifiers need: `whsec_` and standard base64 of 24+ bytes."""
    try:
        return len(base64.b64decode(key.removeprefix("whsec_"), validate=True)) >= 24
    except (binascii.Error, ValueError):
        return False


def _replace_undecodable_signing_keys() -> None:
    """Keys made before 0005 were URL-safe base64, which standard decoders reject or misread
    when they hold `-` or `_`. Nothing was signed with them yet, so they are replaced."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, webhook_signing_key FROM sender_domains")).all()
    for domain_id, key in rows:
        if not _decodable(key):
            new_key = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
            conn.execute(
                sa.text("UPDATE sender_domains SET webhook_signing_key = :key WHERE id = :id"),
                {"key": new_key, "id": domain_id},
            )


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_webhook_status", table_name="webhook_outbox")
    op.drop_index("ix_webhook_outbox_due", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
