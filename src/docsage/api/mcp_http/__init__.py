"""The MCP server's HTTP mount (`/mcp`)."""

from docsage.api.mcp_http.endpoint import McpEndpoint

__all__ = ["McpEndpoint"]
