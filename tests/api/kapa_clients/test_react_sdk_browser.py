"""The official `@kapaai/react-sdk`, unmodified, in a real browser against `docsage serve`, shows cited sources.

`tests/clients/node/browser/` is a tiny React page (bundled here with esbuild) that renders `<KapaProvider>`
pointed at docsage and the `useChat` hook's conversation. Debian's Chromium, driven by Playwright, asks on it a
question and a follow-up in the same thread over `/proxy/query/v2/…` (CORS, from another origin).

What it proves beyond the Node probe (test_react_sdk.py): in a browser the SDK releases streamed text through a
requestAnimationFrame smoother that only the `identifiers` chunk flushes, and keeps from `relevant_sources` only
the sources whose http(s) URL appears in the answer text it holds at that moment. So each answer's rendered
sources equal the URLs it cites only if docsage sends `relevant_sources` after `identifiers` (the whole stream
fulfilled at once with sources before identifiers renders no source at all). The SDK ignores `file://` URLs, so
the manual is indexed as a git source citing https URLs rather than as a folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from conftest import CHROMIUM, CHROMIUM_ARGS, Cli, serve, write_docs

from .test_react_sdk import CITATION, CLIENT_DIR, WEBHOOK_Q

NODE = shutil.which("node")
if NODE is None:
    pytest.skip("node is not installed; `make unit` installs it (node-test-deps)", allow_module_level=True)

DOCS_SITE = "https://docs.skyloom.example"
WEBHOOKS_URL = f"{DOCS_SITE}/webhooks.html"
FOLLOW_UP = "Which header carries the signature?"
WAIT_MS = 20_000


@dataclass(frozen=True)
class Site:
    docsage: str  # docsage's base URL
    page: str  # the test page's URL, on another origin


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("kapa-sdk-browser")
    out = root / "page"
    assert NODE is not None
    build = subprocess.run(
        [NODE, "browser/build.mjs", str(out)], cwd=CLIENT_DIR, capture_output=True, text=True, timeout=60, check=False
    )
    assert build.returncode == 0, f"esbuild failed (run `make node-test-deps`?): {build.stderr}"

    # The Skyloom manual as a git repository whose citations are https URLs (a folder source cites file://).
    docs = write_docs(root)
    git = ["git", "-C", str(docs), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "docs"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    cli = Cli(root / "home")
    project = cli.json("project", "create", "--name", "Skyloom docs")["id"]
    template = f"{DOCS_SITE}/{{path}}"
    cli.json("source", "add", "--project", project, "--type", "git", "--path", docs, "--url-template", template)
    ingest = cli("ingest", "--project", project)
    assert ingest.returncode == 0, ingest.stderr
    integration = cli.json("integration", "create", "--project", project, "--type", "WIDGET", "--name", "web")["id"]

    pages = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(out)))
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    try:
        with serve(cli.home) as server:
            query = urlencode({"base": server.base_url, "integration": integration})
            yield Site(server.base_url, f"http://127.0.0.1:{pages.server_port}/index.html?{query}")
    finally:
        pages.shutdown()
        pages.server_close()


def ask(page: Page, question: str, index: int) -> tuple[str, list[str]]:
    """Type a question, wait until the SDK has finished the answer; (its text, the rendered source URLs)."""
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Ask").click()
    qa = page.locator("section.qa").nth(index)
    expect(qa.get_by_role("heading")).to_have_text(question)
    expect(qa).to_have_attribute("data-status", "completed")
    expect(page.locator("main")).to_have_attribute("data-busy", "false")  # the stream has been read to its end
    expect(page.get_by_role("alert")).to_have_count(0)
    sources = qa.locator("li[data-source-url]").evaluate_all("items => items.map(li => li.dataset.sourceUrl)")
    return qa.locator(".answer").text_content() or "", sources


def assert_sources_are_the_citations(answer: str, sources: list[str]) -> None:
    cited = {url for _, url in CITATION.findall(answer)}
    assert WEBHOOKS_URL in cited, answer
    assert sources, f"the SDK kept no source for {answer!r}"
    assert sorted(sources) == sorted(cited), (sources, answer)


def test_react_sdk_in_chromium_shows_the_cited_sources(site: Site) -> None:
    outside: list[str] = []  # requests beyond loopback, refused

    def refuse(route: Route) -> None:
        outside.append(route.request.url)
        route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(WAIT_MS)
            # Nothing may leave loopback (the SDK's captcha, fingerprint and proxy defaults would).
            context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), refuse)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            streams: list[str] = []
            page.on("requestfinished", lambda r: streams.append(r.url) if "/chat/stream/" in r.url else None)
            page.goto(site.page)

            answer, sources = ask(page, WEBHOOK_Q, 0)
            assert "HMAC-SHA256" in answer, answer
            assert_sources_are_the_citations(answer, sources)
            thread = page.locator("main").get_attribute("data-thread")
            assert thread, "the SDK has no thread id after the first answer"

            follow_answer, follow_sources = ask(page, FOLLOW_UP, 1)
            assert "X-Skyloom-Signature" in follow_answer, follow_answer
            assert_sources_are_the_citations(follow_answer, follow_sources)
            expect(page.locator("main")).to_have_attribute("data-thread", thread)
            # The first answer and its sources are still shown, unchanged.
            first = page.locator("section.qa").nth(0)
            expect(first.locator(".answer")).to_have_text(answer)
            expect(first.locator("li[data-source-url]")).to_have_count(len(sources))
        finally:
            browser.close()
    # The follow-up went to the thread the first answer started.
    proxy = f"{site.docsage}/proxy/query/v2"
    assert streams == [f"{proxy}/chat/stream/", f"{proxy}/thread/{thread}/chat/stream/"]
    assert errors == []
    assert outside == []
