"""Shared CLI plumbing: the services container, JSON output and the one-line error rule."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, NoReturn

from rich.console import Console

from docsage.services import Services

# soft_wrap: lines are never re-wrapped at 80 columns when output goes to a pipe (scripts parse it).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
_services: Services | None = None


def services() -> Services:
    global _services  # noqa: PLW0603 - one container per CLI process
    if _services is None:
        _services = Services()
    return _services


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2) + "\n")


def fail(message: str) -> NoReturn:
    """One clear line on stderr and exit code 2 (the CLI contract for unknown ids, bad paths, bad flags)."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)
