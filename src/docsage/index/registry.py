"""The index backend of a database, chosen by its SQL dialect: one backend object per database URL."""

from __future__ import annotations

from collections.abc import Callable

from docsage.db.engine import Database
from docsage.errors import DocsageError
from docsage.index.base import IndexBackend


def _sqlite(database: Database) -> IndexBackend:
    from docsage.index.sqlite import SQLiteIndex

    return SQLiteIndex(database.data_version)


def _postgresql(database: Database) -> IndexBackend:
    from docsage.index.postgres import PostgresIndex

    return PostgresIndex(database.data_version)


BACKENDS: dict[str, Callable[[Database], IndexBackend]] = {"sqlite": _sqlite, "postgresql": _postgresql}
_backends: dict[str, IndexBackend] = {}


def get_index_backend(database: Database) -> IndexBackend:
    if database.url not in _backends:
        dialect = database.engine.dialect.name
        if dialect not in BACKENDS:
            raise DocsageError(f"no index backend for {dialect} databases (supported: {', '.join(BACKENDS)})")
        _backends[database.url] = BACKENDS[dialect](database)
    return _backends[database.url]
