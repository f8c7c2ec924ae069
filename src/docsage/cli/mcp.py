"""`docsage mcp`: serve one project's docs to an agent over stdio (the official MCP SDK's stdio transport)."""

from __future__ import annotations

from typing import Annotated

import anyio
import typer

from docsage.cli.common import services

ProjectOpt = Annotated[str, typer.Option("--project", help="Project id.")]


def mcp_cmd(project: ProjectOpt) -> None:
    """Serve the project's docs as an MCP server over stdio (search_docs, get_documents, ask), as the operator:
    no key, no rate limit. For agents that start their servers as commands (Claude Code, Cursor, …)."""
    from docsage.mcp import serve_stdio

    svc = services()
    svc.projects.get_project(project)  # an unknown project fails here, with the CLI's one-line error
    # Load the embedding model before the client's first search, not during it.
    svc.embedder.embed_query("warm up")
    anyio.run(serve_stdio, svc, project)
