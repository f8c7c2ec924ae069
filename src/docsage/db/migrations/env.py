"""Alembic environment: runs migrations on the engine docsage hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from docsage.db.models import Base
from docsage.db.postgres import include_in_schema_comparison

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        include_object=include_in_schema_comparison,
    )
    with context.begin_transaction():
        context.run_migrations()
