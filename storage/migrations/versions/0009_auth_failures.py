"""auth failures: failed SMTP AUTH attempts per client address, shared by every SMTP worker

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_address", name=op.f("pk_auth_failures")),
    )
    op.create_index(
        op.f("ix_auth_failures_window_ends_at"), "auth_failures", ["window_ends_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_failures_window_ends_at"), table_name="auth_failures")
    op.drop_table("auth_failures")
