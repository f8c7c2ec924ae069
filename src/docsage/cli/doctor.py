"""`docsage doctor`: the health of a deployment as a table (or JSON); exit code 1 when a check fails."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from docsage.cli.common import console, print_json, services
from docsage.doctor import Doctor

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Check the database (reachable, migrations at head, pgvector), Redis, the embedding model, the LLM
    endpoint, the job queue and free disk; exit 1 when any check fails."""
    checks = Doctor(services().settings).run()
    failed = any(c.status == "fail" for c in checks)
    if as_json:
        print_json({"ok": not failed, "checks": [c.to_json() for c in checks]})
    else:
        table = Table(title="docsage doctor")
        for column in ("check", "status", "detail"):
            table.add_column(column, overflow="fold")
        for c in checks:
            table.add_row(c.name, f"[{STYLE[c.status]}]{c.status}[/]", escape(c.detail))
        console.print(table)
    if failed:
        raise SystemExit(1)
