"""Documentation is part of the product: every setting and every CLI command must be documented."""

from __future__ import annotations

from pathlib import Path

import typer

from docsage.cli.main import app
from docsage.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _commands(typer_app: typer.Typer, prefix: str = "") -> list[str]:
    names = [f"{prefix}{c.name or c.callback.__name__}".strip() for c in typer_app.registered_commands if c.callback]
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            names += _commands(group.typer_instance, f"{prefix}{group.name} ")
    return names


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [f"DOCSAGE_{name.upper()}" for name in Settings.model_fields if f"DOCSAGE_{name.upper()}" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_every_cli_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    commands = _commands(app)
    assert "source add" in commands and "ingest" in commands
    missing = [c for c in commands if f"docsage {c}" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().splitlines()[:6]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
