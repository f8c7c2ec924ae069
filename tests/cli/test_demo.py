"""`docsage demo` — what `make run` runs: index a docs folder, serve it with the widget on the start page,
and cite pages this same server can open."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from conftest import Cli, LiveServer, serve


def ask(server: LiveServer, question: str) -> dict:  # type: ignore[type-arg]
    page = httpx.get(f"{server.base_url}/", timeout=30)
    assert page.status_code == 200
    key = re.search(r'<script src="/widget.js" data-key="([^"]+)"', page.text)
    assert key, "the start page embeds the widget with its key"
    resp = httpx.post(
        f"{server.base_url}/api/v1/chat",
        json={"message": question},
        headers={"Authorization": f"Bearer {key.group(1)}", "Origin": server.base_url},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_demo_serves_the_widget_and_citations_that_open(
    run_cli: Cli, tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    docs = make_docs(tmp_path)
    with serve(run_cli.home, command=["demo", "--docs", docs]) as server:
        answer = ask(server, "How do I verify webhook signatures?")
        source = answer["sources"][0]["url"]
        assert source == f"{server.base_url}/demo/docs/webhooks.html", answer["sources"]
        assert f"({source})" in answer["answer"], "the answer's citation links the same page"
        opened = httpx.get(source, timeout=30)
        assert opened.status_code == 200 and "X-Skyloom-Signature" in opened.text
        markdown = httpx.get(f"{server.base_url}/demo/docs/install.md", timeout=30)
        assert markdown.headers["content-type"].startswith("text/plain") and "pip install" in markdown.text
        outside = httpx.get(f"{server.base_url}/demo/docs/%2e%2e/docsage-home/docsage.db", timeout=30)
        assert outside.status_code == 404, "nothing outside the docs folder is served"
        first_base = server.base_url

    # Started again on another port, the demo re-cites its pages at the new address.
    with serve(run_cli.home, command=["demo", "--docs", docs]) as server:
        assert server.base_url != first_base
        source = ask(server, "How do I verify webhook signatures?")["sources"][0]["url"]
        assert source == f"{server.base_url}/demo/docs/webhooks.html"
        assert len(run_cli.json("source", "list", "--project", run_cli.json("project", "list")[0]["id"])) == 1


def test_demo_with_a_missing_docs_folder_is_a_clear_error(run_cli: Cli, tmp_path: Path) -> None:
    result = run_cli("demo", "--docs", tmp_path / "nope", "--no-serve")
    assert result.returncode == 2 and result.stderr.startswith("error:"), (result.stdout, result.stderr)


def test_a_demo_from_another_checkout_replaces_the_earlier_demo_folder_and_keeps_sources_added_by_hand(
    run_cli: Cli, tmp_path: Path, make_docs: Callable[[Path], Path]
) -> None:
    # `make run` in two clones shares one home: the second must not answer from both folders, each page twice.
    first, second = make_docs(tmp_path / "clone-a"), make_docs(tmp_path / "clone-b")
    notes = tmp_path / "team-notes"
    notes.mkdir()
    (notes / "oncall.md").write_text("# On-call\n\nPage the Skyloom on-call engineer through PagerDuty.\n")
    with serve(run_cli.home, command=["demo", "--docs", first]):
        pass
    project = run_cli.json("project", "list")[0]["id"]
    run_cli.json("source", "add", "--project", project, "--type", "folder", "--path", notes, "--name", "notes")

    with serve(run_cli.home, command=["demo", "--docs", second]) as server:
        answer = ask(server, "How do I verify webhook signatures?")
        urls = [s["url"] for s in answer["sources"]]
        assert urls[0] == f"{server.base_url}/demo/docs/webhooks.html", urls
        assert len(urls) == len(set(urls)), f"a page cited twice: {urls}"
    locations = {s["location"] for s in run_cli.json("source", "list", "--project", project)}
    assert locations == {str(second.resolve()), str(notes.resolve())}, locations
