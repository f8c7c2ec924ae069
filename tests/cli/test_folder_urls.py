"""A folder source can cite the pages where readers find them (`--url-template`), not file:// paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Cli


def test_folder_citations_follow_the_url_template(
    run_cli: Cli, tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    docs = make_docs(tmp_path)
    (docs / "api guides").mkdir()
    (docs / "api guides" / "pagination.md").write_text(
        "# Pagination\n\nPass `cursor` from `next_cursor` to fetch the following page of Skyloom results.\n"
    )
    project = run_cli.json("project", "create", "--name", "Skyloom")["id"]
    source = run_cli.json(
        "source", "add", "--project", project, "--type", "folder", "--path", docs,
        "--url-template", "https://docs.skyloom.example/{path}",
    )  # fmt: skip
    assert source["options"] == {"url_template": "https://docs.skyloom.example/{path}"}
    assert run_cli("ingest", "--project", project).returncode == 0

    hits = run_cli.json("search", "--project", project, "next_cursor following page", "--top-k", "1")
    assert hits[0]["source_url"] == "https://docs.skyloom.example/api%20guides/pagination.md"
    webhooks = run_cli.json("search", "--project", project, "verify webhook signatures", "--top-k", "1")
    assert webhooks[0]["source_url"] == "https://docs.skyloom.example/webhooks.html"


def test_a_bad_url_template_is_refused_when_the_source_is_added(run_cli: Cli, tmp_path: Path) -> None:
    project = run_cli.json("project", "create", "--name", "Skyloom")["id"]
    result = run_cli(
        "source", "add", "--project", project, "--type", "folder", "--path", tmp_path,
        "--url-template", "https://docs.example.com/{file}",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("error:") and "url_template" in result.stderr, result.stderr
    assert run_cli.json("source", "list", "--project", project) == []
