"""chunk_deletions: the pks of deleted chunks by the project generation that deleted them, so that replicas'
index caches follow deletions by reading what went since their generation (PostgreSQL's backend writes it):
comparing every pk of a project took 0.95 s per deletion at 100k chunks.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunk_deletions",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("pk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "pk"),
    )
    with op.batch_alter_table("chunk_deletions", schema=None) as batch_op:
        batch_op.create_index("ix_chunk_deletions_project_generation", ["project_id", "generation"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chunk_deletions", schema=None) as batch_op:
        batch_op.drop_index("ix_chunk_deletions_project_generation")
    op.drop_table("chunk_deletions")
