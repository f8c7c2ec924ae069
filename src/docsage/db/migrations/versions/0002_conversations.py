"""Conversations: end users, threads, question-answers, feedback and support-ticket outcomes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "end_users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("unique_client_id", sa.String(length=200), nullable=True),
        sa.Column("fingerprint_id", sa.String(length=200), nullable=True),
        sa.Column("slack_id", sa.String(length=200), nullable=True),
        sa.Column("discord_id", sa.String(length=200), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("first_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latest_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("end_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_end_users_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_end_users_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_end_users_unique_client_id"), ["unique_client_id"], unique=False)

    op.create_table(
        "threads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.String(length=36), nullable=True),
        sa.Column("end_user_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["end_user_id"], ["end_users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_threads_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_threads_end_user_id"), ["end_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_threads_integration_id"), ["integration_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_threads_project_id"), ["project_id"], unique=False)

    op.create_table(
        "question_answers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.String(length=36), nullable=True),
        sa.Column("end_user_id", sa.String(length=36), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("retrieval_query", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("is_uncertain", sa.Boolean(), nullable=False),
        sa.Column("is_redacted", sa.Boolean(), nullable=False),
        sa.Column("relevant_sources", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["end_user_id"], ["end_users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("question_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_answers_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_answers_end_user_id"), ["end_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_answers_integration_id"), ["integration_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_answers_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_answers_thread_id"), ["thread_id"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("question_answer_id", sa.String(length=36), nullable=False),
        sa.Column("user_identifier", sa.String(length=200), nullable=False),
        sa.Column("reaction", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["question_answer_id"], ["question_answers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_qa_user", ["question_answer_id", "user_identifier"], unique=True)

    op.create_table(
        "ticket_outcomes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("integration_id", sa.String(length=36), nullable=True),
        sa.Column("question_answer_id", sa.String(length=36), nullable=False),
        sa.Column("deflected", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_answer_id"], ["question_answers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("question_answer_id"),
    )
    with op.batch_alter_table("ticket_outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_outcomes_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_outcomes_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_outcomes_project_id"))
        batch_op.drop_index(batch_op.f("ix_ticket_outcomes_created_at"))

    op.drop_table("ticket_outcomes")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_qa_user")

    op.drop_table("feedback")
    with op.batch_alter_table("question_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_answers_thread_id"))
        batch_op.drop_index(batch_op.f("ix_question_answers_project_id"))
        batch_op.drop_index(batch_op.f("ix_question_answers_integration_id"))
        batch_op.drop_index(batch_op.f("ix_question_answers_end_user_id"))
        batch_op.drop_index(batch_op.f("ix_question_answers_created_at"))

    op.drop_table("question_answers")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threads_project_id"))
        batch_op.drop_index(batch_op.f("ix_threads_integration_id"))
        batch_op.drop_index(batch_op.f("ix_threads_end_user_id"))
        batch_op.drop_index(batch_op.f("ix_threads_created_at"))

    op.drop_table("threads")
    with op.batch_alter_table("end_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_end_users_unique_client_id"))
        batch_op.drop_index(batch_op.f("ix_end_users_project_id"))
        batch_op.drop_index(batch_op.f("ix_end_users_email"))

    op.drop_table("end_users")
