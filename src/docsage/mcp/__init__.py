"""The MCP server: docs tools for agents, over streamable HTTP (mounted by the API) and stdio (`docsage mcp`)."""

from docsage.mcp.server import build_server
from docsage.mcp.stdio import serve_stdio
from docsage.mcp.tools import TOOLS, Caller, DocsTools

__all__ = ["TOOLS", "Caller", "DocsTools", "build_server", "serve_stdio"]
