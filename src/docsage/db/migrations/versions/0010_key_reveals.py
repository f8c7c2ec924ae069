"""A new key's one-time secret kept server-side (sealed, short-lived) until the dashboard shows it, so the
page after the create-key redirect shows it on whichever replica serves it.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_reveals",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("sealed", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["admin_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("key_reveals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_reveals_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_key_reveals_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("key_reveals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_reveals_user_id"))
        batch_op.drop_index(batch_op.f("ix_key_reveals_expires_at"))
    op.drop_table("key_reveals")
