"""unique suppression entries, NULL ids compared as 0

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ENTRY = ("address", "scope", "coalesce(user_id, 0)", "coalesce(sender_domain_id, 0)")


def upgrade() -> None:
    # Concurrent adds could store an entry twice before this index; keep the oldest row.
    op.execute(
        "DELETE FROM suppressions WHERE id NOT IN (SELECT min(id) FROM suppressions GROUP BY"
        " address, scope, coalesce(user_id, 0), coalesce(sender_domain_id, 0))"
    )
    op.create_index(
        "uq_suppressions_entry",
        "suppressions",
        [sa.text(column) for column in ENTRY],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_suppressions_entry", table_name="suppressions")
