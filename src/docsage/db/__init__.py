"""Storage: models, engine, migrations and one repository module per aggregate."""

from docsage.db.engine import Database, get_database

__all__ = ["Database", "get_database"]
