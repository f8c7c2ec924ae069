"""The index backend of a database, chosen by its SQL dialect: one backend object per database URL."""

from __future__ import annotations

from collections.abc import Callable

from docsage.config import Settings
from docsage.db.engine import Database
from docsage.errors import DocsageError
from docsage.index.base import IndexBackend


def _sqlite(database: Database, settings: Settings) -> IndexBackend:
    from docsage.index.sqlite import SQLiteIndex

    return SQLiteIndex(database.data_version)


def _postgresql(database: Database, settings: Settings) -> IndexBackend:
    from docsage.index.postgres import PostgresIndex

    return PostgresIndex(
        database.data_version,
        settings.pgvector_exact_below,
        settings.pgvector_ef_search,
        settings.pgvector_ivfflat_probes,
    )


BACKENDS: dict[str, Callable[[Database, Settings], IndexBackend]] = {"sqlite": _sqlite, "postgresql": _postgresql}
_backends: dict[tuple[str, int, int, int], IndexBackend] = {}


def get_index_backend(database: Database, settings: Settings) -> IndexBackend:
    """One backend per database and index settings (its caches are shared by everything using them)."""
    key = (database.url, settings.pgvector_exact_below, settings.pgvector_ef_search, settings.pgvector_ivfflat_probes)
    if key not in _backends:
        dialect = database.engine.dialect.name
        if dialect not in BACKENDS:
            raise DocsageError(f"no index backend for {dialect} databases (supported: {', '.join(BACKENDS)})")
        _backends[key] = BACKENDS[dialect](database, settings)
    return _backends[key]
