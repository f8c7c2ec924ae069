"""The `docsage` operator CLI."""

from docsage.cli.main import app, main

__all__ = ["app", "main"]
