"""`docsage mcp`: the MCP server over stdio for one project, run by the operator (no key, no rate budget)."""

from __future__ import annotations

from anyio import CapacityLimiter
from mcp.server.stdio import stdio_server

from docsage.mcp.server import build_server
from docsage.mcp.tools import Caller
from docsage.services import Services


async def serve_stdio(services: Services, project_id: str) -> None:
    """Serve MCP on stdin/stdout until the client closes them; stdout carries protocol messages only."""
    caller = Caller(project_id)
    limiter = CapacityLimiter(services.settings.resolved_search_threads())
    server = build_server(services, lambda _ctx: caller, limiter)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
