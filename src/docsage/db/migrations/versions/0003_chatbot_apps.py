"""Chatbot apps: which API key (app) each thread and question-answer came through, for per-app usage.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("question_answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_question_answers_api_key_id"), ["api_key_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_question_answers_api_key_id", "api_keys", ["api_key_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_threads_api_key_id"), ["api_key_id"], unique=False)
        batch_op.create_foreign_key("fk_threads_api_key_id", "api_keys", ["api_key_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_constraint("fk_threads_api_key_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_threads_api_key_id"))
        batch_op.drop_column("api_key_id")

    with op.batch_alter_table("question_answers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_question_answers_api_key_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_question_answers_api_key_id"))
        batch_op.drop_column("api_key_id")
