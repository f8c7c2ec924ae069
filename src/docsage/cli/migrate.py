"""`docsage migrate`: bring the configured database's schema to the newest migration, once."""

from __future__ import annotations

from typing import Annotated

import typer

from docsage.cli.common import console, print_json, services
from docsage.db.engine import make_engine, migrate


def migrate_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Run the database migrations to head (PostgreSQL: under an advisory lock, so any number of replicas or
    `docsage migrate` calls at once migrate exactly once). Servers and workers also migrate when they start."""
    engine = make_engine(services().settings.resolved_database_url())
    try:
        before, after = migrate(engine)
    finally:
        engine.dispose()
    dialect = engine.dialect.name
    if as_json:
        print_json({"database": dialect, "from": before, "to": after, "migrated": before != after})
    elif before == after:
        console.print(f"{dialect} database already at revision {after}", highlight=False)
    else:
        console.print(f"{dialect} database migrated from revision {before or '(empty)'} to {after}", highlight=False)
