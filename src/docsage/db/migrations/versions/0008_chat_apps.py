"""Chat apps (Slack, Discord): the workspace/server/channel an integration stands for, chat-app threads
continued as docsage threads, and the deliveries already taken on (a retried event is answered once).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_integrations_type_external_id", ["integration_type", "external_id"], unique=True)
    op.create_table(
        "chat_app_threads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("conversation_key", sa.String(length=200), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chat_app_threads_key", "chat_app_threads", ["platform", "conversation_key"], unique=True)
    op.create_index(op.f("ix_chat_app_threads_thread_id"), "chat_app_threads", ["thread_id"], unique=False)
    op.create_table(
        "chat_app_deliveries",
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "delivery_id"),
    )
    op.create_index(op.f("ix_chat_app_deliveries_received_at"), "chat_app_deliveries", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_chat_app_deliveries_received_at"), table_name="chat_app_deliveries")
    op.drop_table("chat_app_deliveries")
    op.drop_index(op.f("ix_chat_app_threads_thread_id"), table_name="chat_app_threads")
    op.drop_index("ix_chat_app_threads_key", table_name="chat_app_threads")
    op.drop_table("chat_app_threads")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_index("ix_integrations_type_external_id")
        batch_op.drop_column("external_id")
