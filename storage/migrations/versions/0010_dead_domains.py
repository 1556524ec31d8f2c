"""dead domains: recipient domains seen without mail service, first and last, so that an address
there is suppressed only after two sightings at least an hour apart

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 00:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("first_seen_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_dead_domains")),
    )


def downgrade() -> None:
    op.drop_table("dead_domains")
