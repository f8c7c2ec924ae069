"""The MCP server (official `mcp` SDK, low-level `Server`): lists and calls the docs tools for the caller's
project, whichever transport carried the request."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio.to_thread
import mcp_types as types
from anyio import CapacityLimiter
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from docsage import __version__
from docsage.errors import DocsageError
from docsage.mcp.tools import TOOLS, TOOLS_BY_NAME, Caller, DocsTools
from docsage.services import Services

CallerOf = Callable[[ServerRequestContext[Any, Any]], Caller]
INSTRUCTIONS = (
    "Search and read one project's documentation, indexed by docsage, and ask it for cited answers. The tool "
    "descriptions name the documentation. Start with search_docs; read whole pages with get_documents."
)


def _invalid_arguments(error: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in error.errors(include_url=False)
    )
    return f"invalid arguments: {problems}"


def tool_error(message: str) -> types.CallToolResult:
    """A failed call the agent can read and act on (a missing scope, a rate limit, bad arguments)."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def build_server(services: Services, caller_of: CallerOf, search_limiter: CapacityLimiter) -> Server[Any]:
    """A server answering for the project `caller_of` finds in each request (its key's, or the operator's).

    Tool work runs on threads: searches under `search_limiter` (the bound the HTTP API's searches share),
    answers on the default pool (an LLM answer mostly waits).
    """
    tools = DocsTools(services)
    schemas = {spec.name: spec.args.model_json_schema() for spec in TOOLS}

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        docs = await anyio.to_thread.run_sync(tools.project_docs, caller_of(ctx).project_id)
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=spec.name,
                    title=spec.title,
                    description=spec.description(docs),
                    input_schema=schemas[spec.name],
                    annotations=types.ToolAnnotations(
                        title=spec.title,
                        read_only_hint=spec.read_only,
                        destructive_hint=False,
                        idempotent_hint=spec.read_only,
                        open_world_hint=False,
                    ),
                )
                for spec in TOOLS
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = TOOLS_BY_NAME.get(params.name)
        if spec is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown tool {params.name!r}")
        caller = caller_of(ctx)
        try:
            args = spec.args.model_validate(params.arguments or {})
        except ValidationError as exc:
            return tool_error(_invalid_arguments(exc))
        run = getattr(tools, spec.name)
        limiter = None if spec.name == "ask" else search_limiter
        try:
            result: dict[str, Any] = await anyio.to_thread.run_sync(partial(run, caller, args), limiter=limiter)
        except DocsageError as exc:
            return tool_error(exc.message)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(result, ensure_ascii=False))],
            structured_content=result,
        )

    return Server(
        "docsage",
        version=__version__,
        title="docsage",
        instructions=INSTRUCTIONS,
        get_tool_input_schema=schemas.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
