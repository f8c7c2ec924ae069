"""PostgreSQL: chunk embeddings in pgvector's `vector` type with an HNSW index (cosine); nothing on SQLite.

The column has no fixed dimension, so one database can hold chunks of two embedders while documents are
re-embedded; the HNSW index covers one dimension (a partial index on `embedding::vector(384)`, the bundled
MiniLM's). Another embedder's dimension is searched exactly until an index like it is added for that dimension
(see docs/retrieval.md, "PostgreSQL").

Chunks could not be written on PostgreSQL before this migration (there was no index backend for it), so the
column changes type on an empty table.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

HNSW_DIMENSIONS = 384


def hnsw_index_sql(dim: int) -> str:
    """The ANN index for the chunks of one embedding dimension (index/postgres.py queries it by this shape)."""
    return (
        f"CREATE INDEX IF NOT EXISTS ix_chunks_embedding_hnsw_{dim} ON chunks "
        f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE vector_dims(embedding) = {dim}"
    )


def _require_no_chunks(action: str) -> None:
    if op.get_bind().exec_driver_sql("SELECT EXISTS (SELECT 1 FROM chunks)").scalar():
        raise RuntimeError(f"cannot {action}: the chunks table is not empty")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    _require_no_chunks("store embeddings as pgvector vectors")
    op.execute("ALTER TABLE chunks ALTER COLUMN embedding TYPE vector USING NULL")
    op.execute(hnsw_index_sql(HNSW_DIMENSIONS))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS ix_chunks_embedding_hnsw_{HNSW_DIMENSIONS}")
    op.execute(f"DROP INDEX IF EXISTS ix_chunks_embedding_ivfflat_{HNSW_DIMENSIONS}")  # `docsage vector-index`
    _require_no_chunks("turn pgvector vectors back into bytes")
    op.execute("ALTER TABLE chunks ALTER COLUMN embedding TYPE bytea USING NULL")
