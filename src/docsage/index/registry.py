"""Picks the index backend for a database (SQLite now; PostgreSQL + pgvector plugs in here)."""

from __future__ import annotations

from docsage.db.engine import Database
from docsage.index.base import IndexBackend

_backends: dict[str, IndexBackend] = {}


def get_index_backend(database: Database) -> IndexBackend:
    if database.url not in _backends:
        if not database.is_sqlite:
            raise NotImplementedError(f"no index backend for {database.engine.dialect.name} yet")
        from docsage.index.sqlite import SQLiteIndex

        _backends[database.url] = SQLiteIndex(database.data_version)
    return _backends[database.url]
