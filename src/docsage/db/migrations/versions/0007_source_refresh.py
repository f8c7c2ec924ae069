"""Scheduled re-sync: a refresh interval per source and when its next refresh is due.

Existing sources get no schedule (both columns null): an upgrade never starts crawls nobody asked for.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_interval_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_refresh_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_sources_next_refresh_at"), ["next_refresh_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_next_refresh_at"))
        batch_op.drop_column("next_refresh_at")
        batch_op.drop_column("refresh_interval_s")
