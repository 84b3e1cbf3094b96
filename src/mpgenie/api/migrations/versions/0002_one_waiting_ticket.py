"""One waiting match ticket per player (a partial unique index).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("match_tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ux_match_tickets_one_waiting",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text("status = 'waiting'"),
            postgresql_where=sa.text("status = 'waiting'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("match_tickets", schema=None) as batch_op:
        batch_op.drop_index("ux_match_tickets_one_waiting")
