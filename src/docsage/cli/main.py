"""Entry point: assembles the command groups and applies the error contract (one line, exit code 2)."""

from __future__ import annotations

import logging
import sys

import typer
from pydantic import ValidationError
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.exceptions import Abort, Exit, TyperException

from docsage.cli import evaluate, ops
from docsage.cli import mcp as mcp_cli
from docsage.cli.doctor import doctor
from docsage.cli.migrate import migrate_cmd
from docsage.cli.resources import admin_app, integration_app, key_app, project_app, source_app
from docsage.cli.vector_index import vector_index_app
from docsage.config import Settings, settings_problems
from docsage.errors import DocsageError

app = typer.Typer(
    help="docsage: ask your docs. Index documentation and answer questions with cited sources.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(project_app, name="project")
app.add_typer(key_app, name="key")
app.add_typer(integration_app, name="integration")
app.add_typer(source_app, name="source")
app.add_typer(admin_app, name="admin")
app.add_typer(vector_index_app, name="vector-index")
app.command("ingest")(ops.ingest)
app.command("search")(ops.search)
app.command("ask")(ops.ask)
app.command("serve")(ops.serve)
app.command("mcp")(mcp_cli.mcp_cmd)
app.command("worker")(ops.worker)
app.command("eval")(evaluate.eval_cmd)
app.command("demo")(ops.demo)
app.command("bench")(evaluate.bench)
app.command("doctor")(doctor)
app.command("migrate")(migrate_cmd)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="docsage", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        sys.stdout.write(exc.format_message() + "\n")
    except Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except Abort:
        sys.stderr.write("aborted\n")
        raise SystemExit(130) from None
    except UsageError as exc:
        sys.stderr.write(f"error: {exc.format_message()}\n")
        raise SystemExit(2) from None
    except TyperException as exc:
        sys.stderr.write(f"error: {exc.format_message()}\n")
        raise SystemExit(2) from None
    except DocsageError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        raise SystemExit(2) from None
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        sys.stderr.write(f"error: {settings_problems(exc)}\n")
        raise SystemExit(2) from None
