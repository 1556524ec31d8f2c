"""message tags as rows, so statistics can group by tag on every backend

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_tags",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_message_tags_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "tag", name="pk_message_tags"),
    )
    op.create_index("ix_message_tags_tag", "message_tags", ["tag"])


def downgrade() -> None:
    op.drop_index("ix_message_tags_tag", table_name="message_tags")
    op.drop_table("message_tags")
