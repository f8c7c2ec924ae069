"""CLI commands that manage projects, API keys, integrations and sources."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from docsage.cli.common import console, err_console, fail, print_json, services
from docsage.db.models import ApiKey, Integration, Project, Source
from docsage.ingest.refresh import format_interval, parse_interval
from docsage.projects.service import DEFAULT_REFRESH, SCOPES, is_public

project_app = typer.Typer(help="Create and list projects.", no_args_is_help=True)
key_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
integration_app = typer.Typer(help="Create and list integrations.", no_args_is_help=True)
source_app = typer.Typer(help="Add, list and remove documentation sources.", no_args_is_help=True)
admin_app = typer.Typer(help="Manage admin dashboard accounts.", no_args_is_help=True)

CLI_SOURCE_TYPES = ("folder", "web", "git", "openapi")  # "upload" sources are created by the API
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
REFRESH_HELP = (
    "Re-ingest on a schedule: 30m, 1h, 7d (minutes or more; seconds such as 90s are accepted too) or off. "
    "Changed documents only are re-embedded."
)
RefreshOpt = Annotated[
    str | None, typer.Option("--refresh", help=f"{REFRESH_HELP} Default: 7d for web sources, off for the others.")
]
ProjectOpt = Annotated[str, typer.Option("--project", help="Project id.")]
SCOPE_HELP = ", ".join(SCOPES)
ScopeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        help=f"What a bearer key may do (repeatable): {SCOPE_HELP}. Default: chat and feedback for a key with "
        "allowed origins (public), everything for one without.",
    ),
]


def project_json(p: Project) -> dict[str, Any]:
    return {"id": p.id, "project_name": p.name, "team": p.team_id, "created_at": p.created_at}


def key_json(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "project": k.project_id,
        "scheme": k.scheme,
        "prefix": k.prefix,
        "allowed_origins": list(k.allowed_origins),
        "scopes": list(k.scopes),
        "public": is_public(k),
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
    }


def integration_json(i: Integration) -> dict[str, Any]:
    return {
        "id": i.id,
        "project": i.project_id,
        "name": i.name,
        "description": i.description,
        "integration_type": i.integration_type,
        "external_id": i.external_id,
        "is_setup_complete": i.is_setup_complete,
        "is_enabled": i.is_enabled,
        "created_at": i.created_at,
        "updated_at": i.updated_at,
    }


def source_json(s: Source) -> dict[str, Any]:
    return {
        "id": s.id,
        "project": s.project_id,
        "name": s.name,
        "type": s.type,
        "location": s.location,
        "options": s.options,
        "refresh_interval_s": s.refresh_interval_s,
        "next_refresh_at": s.next_refresh_at,
        "created_at": s.created_at,
        "ingested_at": s.ingested_at,
    }


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


@project_app.command("create")
def project_create(
    name: Annotated[str, typer.Option("--name", help="Project name.")], as_json: JsonOpt = False
) -> None:
    """Create a project in the default team."""
    project = services().projects.create_project(name)
    if as_json:
        print_json(project_json(project))
    else:
        console.print(f"created project [bold]{project.name}[/] id={project.id}")


@project_app.command("list")
def project_list(as_json: JsonOpt = False) -> None:
    """List projects."""
    projects = services().projects.list_projects()
    if as_json:
        print_json([project_json(p) for p in projects])
    else:
        _table(
            "projects", ["id", "name", "team", "created"], [[p.id, p.name, p.team_id, p.created_at] for p in projects]
        )


@key_app.command("create")
def key_create(
    project: ProjectOpt,
    scheme: Annotated[
        str, typer.Option("--scheme", help="x-api-key (Kapa API) or bearer (chatbot API).")
    ] = "x-api-key",
    allowed_origin: Annotated[
        list[str] | None, typer.Option("--allowed-origin", help="Origin allowed to use a bearer key (repeatable).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "",
    scope: ScopeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; the secret is shown once and only its hash is stored.

    A bearer key with allowed origins is public (it goes into web pages): by default it may only chat and send
    feedback. A key without allowed origins is a server-side secret with every scope."""
    created = services().projects.create_key(project, scheme, allowed_origin or [], name, scope or None)
    _warn(created.warnings)
    if as_json:
        print_json({"key": created.secret, **key_json(created.key)})
    else:
        console.print(f"key id={created.key.id}\n{created.secret}\n[dim]store it now: it is not shown again[/]")
        console.print(f"scopes: {', '.join(created.key.scopes)}", highlight=False)


@key_app.command("scopes")
def key_scopes(
    key_id: Annotated[str, typer.Argument(help="Key id.")],
    project: ProjectOpt,
    scope: Annotated[list[str], typer.Option("--scope", help=f"Scope to grant (repeatable): {SCOPE_HELP}.")],
    as_json: JsonOpt = False,
) -> None:
    """Set what a bearer key may do (replaces its scopes)."""
    key, warnings = services().projects.set_scopes(project, key_id, scope)
    _warn(warnings)
    if as_json:
        print_json(key_json(key))
    else:
        console.print(f"key {key.id} scopes: {', '.join(key.scopes)}", highlight=False)


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@key_app.command("list")
def key_list(
    project: Annotated[str | None, typer.Option("--project", help="Project id.")] = None, as_json: JsonOpt = False
) -> None:
    """List API keys (prefixes only)."""
    keys = services().projects.list_keys(project)
    if as_json:
        print_json([key_json(k) for k in keys])
    else:
        _table(
            "API keys",
            ["id", "project", "scheme", "prefix", "origins", "scopes", "revoked"],
            [_key_row(k) for k in keys],
        )


def _key_row(k: ApiKey) -> list[Any]:
    origins, scopes = ", ".join(k.allowed_origins), ", ".join(k.scopes)
    return [k.id, k.project_id, k.scheme, f"{k.prefix}…", origins, scopes, k.revoked_at]


@key_app.command("revoke")
def key_revoke(key_id: Annotated[str, typer.Argument(help="Key id.")], as_json: JsonOpt = False) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    key = services().projects.revoke_key(key_id)
    if as_json:
        print_json(key_json(key))
    else:
        console.print(f"revoked key {key.id}")


@integration_app.command("create")
def integration_create(
    project: ProjectOpt,
    type_: Annotated[
        str,
        typer.Option(
            "--type",
            help="API, WIDGET, SLACK_CHANNEL, SLACK_WORKSPACE, DISCORD_CHANNEL, "
            "DISCORD_SERVER, SUPPORT_FORM_DEFLECTOR or DASHBOARD_CHAT.",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Integration name.")],
    description: Annotated[str, typer.Option("--description", help="Free text.")] = "",
    external_id: Annotated[
        str,
        typer.Option(
            "--external-id",
            help="Slack and Discord integrations: the Slack workspace (team) or channel id, or the Discord "
            "server (guild) or channel id, whose questions this integration answers.",
        ),
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an integration (used to attribute questions in analytics, and to route Slack and Discord)."""
    integration = services().projects.create_integration(project, type_, name, description, external_id)
    if as_json:
        print_json(integration_json(integration))
    else:
        console.print(f"created {integration.integration_type} integration id={integration.id}")


@integration_app.command("list")
def integration_list(project: ProjectOpt, as_json: JsonOpt = False) -> None:
    """List a project's integrations."""
    items = services().projects.list_integrations(project)
    if as_json:
        print_json([integration_json(i) for i in items])
    else:
        _table("integrations", ["id", "type", "name"], [[i.id, i.integration_type, i.name] for i in items])


@source_app.command("add")
def source_add(
    project: ProjectOpt,
    type_: Annotated[str, typer.Option("--type", help="folder, web, git or openapi.")],
    path: Annotated[str | None, typer.Option("--path", help="Local folder, repository or spec file.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Website, clone URL or spec URL.")] = None,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Allow crawling loopback/private addresses.")
    ] = False,
    max_pages: Annotated[int | None, typer.Option("--max-pages", help="Website page limit.")] = None,
    include: Annotated[
        list[str] | None, typer.Option("--include", help="git: glob of files to index (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="git: glob of files to skip (repeatable).")
    ] = None,
    ref: Annotated[str | None, typer.Option("--ref", help="git: branch, tag or commit.")] = None,
    url_template: Annotated[
        str | None,
        typer.Option(
            "--url-template",
            help="folder, git: citation URL built from the file's {path} (git also {ref}, {commit}), "
            "e.g. https://docs.example.com/{path}",
        ),
    ] = None,
    refresh: RefreshOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a documentation source to a project (run `docsage ingest` to index it; a server or worker then
    re-ingests it on its refresh schedule)."""
    if type_ not in CLI_SOURCE_TYPES:
        fail(f"unknown source type {type_!r}; choose one of {', '.join(CLI_SOURCE_TYPES)}")
    if (path is None) == (url is None):
        fail("give exactly one of --path or --url")
    if type_ == "web" and path is not None:
        fail("a web source takes --url")
    options: dict[str, Any] = {}
    if allow_private:
        options["allow_private"] = True
    if max_pages is not None:
        if max_pages < 1:
            fail("--max-pages must be at least 1")
        options["max_pages"] = max_pages
    for key, value in (("include", include), ("exclude", exclude), ("ref", ref), ("url_template", url_template)):
        if value:
            options[key] = value
    interval = DEFAULT_REFRESH if refresh is None else parse_interval(refresh)
    source = services().projects.add_source(project, type_, str(path or url), name, options, interval)
    if as_json:
        print_json(source_json(source))
    else:
        console.print(
            f"added {source.type} source [bold]{source.name}[/] id={source.id}, refresh {_refresh_text(source)}"
        )


@source_app.command("update")
def source_update(
    source_id: Annotated[str, typer.Argument(help="Source id.")],
    refresh: Annotated[str, typer.Option("--refresh", help=REFRESH_HELP)],
    as_json: JsonOpt = False,
) -> None:
    """Change a source's refresh interval (its next refresh: one interval after its last ingest)."""
    source = services().projects.set_refresh(source_id, parse_interval(refresh))
    if as_json:
        print_json(source_json(source))
    else:
        console.print(f"source {source.id}: refresh {_refresh_text(source)}", highlight=False)


def _refresh_text(source: Source) -> str:
    if source.next_refresh_at is None:
        return format_interval(source.refresh_interval_s)
    return f"every {format_interval(source.refresh_interval_s)}, next {source.next_refresh_at:%Y-%m-%d %H:%M:%S} UTC"


@source_app.command("list")
def source_list(project: ProjectOpt, as_json: JsonOpt = False) -> None:
    """List a project's sources with document counts and the last ingest status."""
    svc = services().projects
    sources = svc.list_sources(project)
    status = svc.source_status(project)
    if as_json:
        print_json([{**source_json(s), **status.get(s.id, {})} for s in sources])
    else:
        _table(
            "sources",
            ["id", "type", "name", "location", "documents", "last ingest", "refresh", "next refresh (UTC)"],
            [
                [
                    s.id,
                    s.type,
                    s.name,
                    s.location,
                    status[s.id]["documents"],
                    status[s.id]["last_status"],
                    status[s.id]["refresh"],
                    f"{s.next_refresh_at:%Y-%m-%d %H:%M:%S}" if s.next_refresh_at else "",
                ]
                for s in sources
            ],
        )


@source_app.command("remove")
def source_remove(source_id: Annotated[str, typer.Argument(help="Source id.")], as_json: JsonOpt = False) -> None:
    """Remove a source and purge its documents, chunks and vectors."""
    purged = services().projects.remove_source(source_id)
    if as_json:
        print_json({"id": source_id, "documents_deleted": purged})
    else:
        console.print(f"removed source {source_id} ({purged} documents purged)")


@admin_app.command("create-user")
def admin_create_user(
    username: Annotated[str, typer.Option("--username", help="Login name.")] = "admin",
    password: Annotated[
        str,
        typer.Option(
            "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters."
        ),
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a dashboard account (the password is stored as a scrypt hash)."""
    user = services().admin.create_user(username, password)
    if as_json:
        print_json({"id": user.id, "username": user.username, "created_at": user.created_at})
    else:
        console.print(f"created admin user {user.username}; log in at /admin")
