"""The widget's search mode in real Chromium, and POST /api/v1/search as an attacker would call it.

Setup for the module: a small static server on `localhost` that plays the docs site (it serves the host page
and the manual's pages, which the folder source cites through `--url-template`), the Skyloom manual plus an
"internal" runbook source ingested through the CLI, a public bearer key for the site's origin, and `docsage
serve`. Browser tests drive the widget with the keyboard: Ctrl-K / Cmd-K, typing, arrows, Enter, Escape. The
search API is attacked over plain HTTP with the public key: without Origin, with huge queries, and by scraping
many queries from many addresses until the rate limits stop it. A `docsage demo` server checks that search
works under the Content-Security-Policy docsage sends on its own pages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import DOCS, Cli, LiveServer, serve, write_docs

UNLIMITED = {
    "DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN_TOTAL": "0",
}
PER_CLIENT, TOTAL = 4, 7
LIMITED = {
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN": str(PER_CLIENT),
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN_TOTAL": str(TOTAL),
    "DOCSAGE_FORWARDED_ALLOW_IPS": "127.0.0.1",  # so that the scraper's X-Forwarded-For addresses count
}
RUNBOOK = "On-call engineers rotate the Skyloom signing keys every Tuesday with skyloom-admin rotate-keys."
WAIT_MS = 15_000
SNIPPET_MAX = 242  # 240 characters and an ellipsis on each side
# One long page (about 17,000 characters): release notes, a distinct paragraph per version.
CHANGELOG = "# Skyloom changelog\n\nRelease notes of every Skyloom desktop version.\n\n" + "\n".join(
    f"## Version 3.{n}.0\n\nRelease 3.{n}.0 reworks the {area}: it now uses {n + 2} worker threads, fixes crash "
    f"report {4200 + n} and removes the legacy {area} flag of release 2.{n}. Settings are kept when upgrading; "
    f"the {area} index is migrated once in the background, in about {n + 1} minutes for a large vault.\n"
    for n, area in enumerate(["thumbnail cache", "vault importer", "conflict resolver", "upload scheduler"] * 20)
)
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    pages: dict[str, tuple[str, bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        content_type, body = self.server.pages.get(urlsplit(self.path).path, ("text/plain", b""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def site_server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.pages = {}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def host_page(docsage: str, key: str, attrs: str = 'data-search="true"') -> bytes:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Skyloom docs</title></head>'
        "<body><h1>Skyloom</h1><p>Files in sync on every device.</p>"
        f'<script src="{docsage}/widget.js" data-key="{key}" data-title="Skyloom help" {attrs} async></script>'
        "</body></html>"
    ).encode()


@dataclass
class Site:
    cli: Cli
    home: Path
    docsage: LiveServer
    site: _Server
    project: str
    key: str  # public: allowed origins = the site's
    secret: str  # server-side bearer key

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.site.server_address[1]}"

    def doc_url(self, name: str) -> str:
        return f"{self.origin}/docs/{name}"

    def search(self, query: str, key: str | None = None, **extra: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}", **extra.pop("headers", {})}
        return httpx.post(
            f"{self.docsage.base_url}/api/v1/search", json={"query": query, **extra}, headers=headers, timeout=30
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("widget-search")
    cli = Cli(root / "home")
    docs = write_docs(root)
    internal = root / "internal"
    internal.mkdir()
    (internal / "runbook.md").write_text(f"# Key rotation runbook\n\n{RUNBOOK}\n", encoding="utf-8")
    releases = root / "releases"
    releases.mkdir()
    (releases / "changelog.md").write_text(CHANGELOG, encoding="utf-8")
    with site_server() as pages:
        origin = f"http://localhost:{pages.server_address[1]}"
        for name, body in DOCS.items():
            kind = "text/html" if name.endswith(".html") else "text/plain; charset=utf-8"
            pages.pages[f"/docs/{name}"] = (kind, body.encode())
        pages.pages["/releases/changelog.md"] = ("text/plain; charset=utf-8", CHANGELOG.encode())
        project = cli.json("project", "create", "--name", "Skyloom docs")["id"]
        add = ("source", "add", "--project", project, "--type", "folder")
        cli.json(*add, "--path", docs, "--name", "manual", "--url-template", f"{origin}/docs/{{path}}")
        runbook = cli.json(*add, "--path", internal, "--name", "runbook")
        cli.json(*add, "--path", releases, "--name", "releases", "--url-template", f"{origin}/releases/{{path}}")
        assert cli("ingest", "--project", project).returncode == 0
        with closing(cli.connect()) as conn:  # the flag Kapa's sources API reports; set in the platform
            conn.execute("UPDATE sources SET contains_internal_data = 1 WHERE id = ?", (runbook["id"],))
            conn.commit()
        bearer = ("key", "create", "--project", project, "--scheme", "bearer")
        public = cli.json(*bearer, "--allowed-origin", origin)["key"]
        secret = cli.json(*bearer)["key"]
        with serve(cli.home, UNLIMITED) as docsage:
            pages.pages["/index.html"] = ("text/html", host_page(docsage.base_url, public))
            pages.pages["/no-search.html"] = ("text/html", host_page(docsage.base_url, public, ""))
            yield Site(cli, cli.home, docsage, pages, project, public, secret)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


class Widget:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.button = page.locator("#docsage-widget .btn")
        self.panel = page.locator("#docsage-widget .panel")
        self.find = page.locator("#docsage-widget .find input")
        self.options = page.locator("#docsage-widget .res [role=option]")
        self.results = page.locator("#docsage-widget .res [role=option]:not(.ask)")
        self.ask_option = page.locator("#docsage-widget .res .ask")
        self.hint = page.locator("#docsage-widget .hint")
        self.textarea = page.locator("#docsage-widget textarea")
        self.answers = page.locator("#docsage-widget .msg.bot")

    def load(self, url: str) -> Widget:
        self.page.goto(url)
        expect(self.button).to_be_visible()
        return self

    def focused(self) -> str | None:
        return self.page.evaluate(
            """() => { const a = document.getElementById('docsage-widget').shadowRoot.activeElement;
                       return a ? (a.className || a.tagName.toLowerCase()) : null; }"""
        )

    def type(self, text: str) -> None:
        self.find.press_sequentially(text, delay=40)


# --- the browser ----------------------------------------------------------------------------------------------


def test_ctrl_k_opens_search_and_typing_shows_ranked_pages_and_passages(site: Site, page: Page) -> None:
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.post_data_json["query"]) if r.url.endswith("/search") else None)
    widget = Widget(page).load(f"{site.origin}/index.html")
    page.keyboard.press("Control+k")
    expect(widget.panel).to_be_visible()
    expect(widget.find).to_be_visible()
    assert widget.focused() == "input"
    expect(widget.textarea).to_be_hidden()

    widget.type("rate limit")
    expect(widget.results.first).to_contain_text("Rate limits")
    first = widget.results.first.locator("a")
    expect(first).to_have_attribute("href", site.doc_url("rate-limits.rst"))
    expect(first).to_have_attribute("target", "_blank")
    expect(widget.results.first.locator("mark").first).to_have_text("rate", ignore_case=True)
    expect(widget.results.first.locator("small").first).to_contain_text("Rate limits")
    expect(widget.ask_option).to_have_text("Ask: “rate limit” ↵")
    expect(widget.find).to_have_attribute("aria-expanded", "true")
    # Debounced: fewer requests than keystrokes, the last one for the whole query.
    assert 1 <= len(searches) < len("rate limit") and searches[-1] == "rate limit", searches

    # Typing on re-ranks: another page comes first.
    widget.find.fill("")
    widget.type("webhook signature")
    expect(widget.results.first.locator("a")).to_have_attribute("href", site.doc_url("webhooks.html"))
    expect(widget.results.first).to_contain_text("X-Skyloom-Signature")
    titles = [r.locator("b").inner_text() for r in widget.results.all()]
    assert len(titles) == len(set(titles)), f"one option per page: {titles}"

    # Nothing in the docs: no page, and asking is offered instead.
    widget.find.fill("")
    widget.type("pizza toppings")
    expect(widget.hint).to_have_text("No page matches; ask instead.")
    expect(widget.results).to_have_count(0)
    expect(widget.ask_option).to_be_visible()


def test_enter_and_the_ask_option_hand_the_query_to_the_chat(site: Site, page: Page) -> None:
    widget = Widget(page).load(f"{site.origin}/index.html")
    page.keyboard.press("Control+k")
    widget.type("How do I install the Skyloom CLI?")
    expect(widget.results.first).to_be_visible()
    page.keyboard.press("Enter")
    expect(widget.find).to_be_hidden()
    expect(page.locator("#docsage-widget .msg.user")).to_have_text("How do I install the Skyloom CLI?")
    answer = widget.answers.last
    expect(answer.locator(".fb")).to_be_visible()
    expect(answer.locator(".sources a").first).to_have_attribute("href", site.doc_url("install.md"))

    # Back to search with the header button, then the "Ask" option by mouse.
    page.locator("#docsage-widget .mode").click()
    expect(widget.find).to_be_visible()
    widget.find.fill("")
    widget.type("How do I upgrade it?")
    widget.ask_option.click()
    expect(page.locator("#docsage-widget .msg.user")).to_have_count(2)
    follow = widget.answers.last
    expect(follow.locator(".fb")).to_be_visible()
    expect(follow).to_contain_text("pip install --upgrade skyloom-cli")  # the same session: "it" is the CLI


def test_keyboard_arrows_enter_opens_a_result_escape_closes_cmd_k_toggles(site: Site, page: Page) -> None:
    widget = Widget(page).load(f"{site.origin}/index.html")
    page.keyboard.press("Meta+k")
    expect(widget.find).to_be_visible()
    widget.type("environment variables")
    expect(widget.results.first.locator("a")).to_have_attribute("href", site.doc_url("configuration.md"))
    count = widget.options.count()
    assert count >= 2

    page.keyboard.press("ArrowDown")
    expect(widget.find).to_have_attribute("aria-activedescendant", "ds-o0")
    expect(widget.options.nth(0)).to_have_class("on")
    page.keyboard.press("ArrowUp")  # from the first back round to the last option: "Ask"
    expect(widget.find).to_have_attribute("aria-activedescendant", "ds-ask")
    page.keyboard.press("ArrowDown")  # and round again to the first
    expect(widget.find).to_have_attribute("aria-activedescendant", "ds-o0")

    with page.context.expect_page() as opened:
        page.keyboard.press("Enter")
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == site.doc_url("configuration.md")
    assert "SKYLOOM_API_TOKEN" in tab.content()
    tab.close()
    expect(widget.find).to_be_visible()  # the search stays as it was

    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    assert widget.focused() == "btn"
    page.keyboard.press("Control+k")
    expect(widget.find).to_be_visible()
    page.keyboard.press("Control+k")  # the shortcut closes what it opened
    expect(widget.panel).to_be_hidden()

    # The round button still opens the chat, not the search.
    widget.button.click()
    expect(widget.textarea).to_be_visible()
    expect(widget.find).to_be_hidden()


def test_without_data_search_there_is_no_search_and_ctrl_k_is_the_pages(site: Site, page: Page) -> None:
    widget = Widget(page).load(f"{site.origin}/no-search.html")
    page.evaluate("() => { window.__k = 0; document.addEventListener('keydown', e => { if (e.key === 'k') __k++; }); }")
    page.keyboard.press("Control+k")
    assert page.evaluate("window.__k") == 1
    expect(widget.panel).to_be_hidden()
    widget.button.click()
    expect(page.locator("#docsage-widget .mode")).to_have_count(0)
    expect(widget.find).to_have_count(0)


def test_results_link_to_the_pages_the_chat_cites(site: Site) -> None:
    chat = httpx.post(
        f"{site.docsage.base_url}/api/v1/chat",
        json={"message": "What happens when I exceed the rate limit?"},
        headers={"Authorization": f"Bearer {site.key}"},
        timeout=60,
    )
    assert chat.status_code == 200, chat.text
    cited = {s["url"] for s in chat.json()["sources"]}
    found = site.search("exceed the rate limit")
    assert found.status_code == 200, found.text
    urls = [r["url"] for r in found.json()["results"]]
    assert urls[0] == site.doc_url("rate-limits.rst") and urls[0] in cited
    assert set(urls) <= {site.doc_url(name) for name in DOCS} | {f"{site.origin}/releases/changelog.md"}


def test_search_works_under_the_csp_of_the_demo_start_page(browser: Browser, run_cli: Cli, tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    with serve(run_cli.home, command=["demo", "--docs", docs]) as server:
        context = browser.new_context(base_url=server.base_url)
        context.set_default_timeout(WAIT_MS)
        try:
            page = context.new_page()
            page.add_init_script(RECORD_VIOLATIONS)
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
            response = page.goto("/")
            assert response is not None
            policy = response.headers["content-security-policy"]
            assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
            widget = Widget(page)
            expect(widget.button).to_be_visible()
            page.keyboard.press("Control+k")
            widget.type("webhook signatures")
            link = widget.results.first.locator("a")
            expect(link).to_have_attribute("href", f"{server.base_url}/demo/docs/webhooks.html")
            page.keyboard.press("Enter")
            expect(widget.answers.last.locator(".fb")).to_be_visible()
            expect(widget.answers.last).to_contain_text("X-Skyloom-Signature")
            assert page.evaluate("window.__cspViolations") == [] and console == []
        finally:
            context.close()


# --- the API, attacked ---------------------------------------------------------------------------------------


def test_a_public_key_gets_snippets_never_whole_pages_with_or_without_origin(site: Site) -> None:
    for headers in ({}, {"Origin": site.origin}):
        resp = site.search("verify the webhook signature", headers=headers, limit=10)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == {"success", "results"} and body["success"] is True
        assert 1 <= len(body["results"]) <= 10
        for result in body["results"]:
            assert set(result) == {"title", "url", "passages"}
            assert 1 <= len(result["passages"]) <= 2
            for passage in result["passages"]:
                assert set(passage) == {"heading", "snippet"}
                assert len(passage["snippet"]) <= SNIPPET_MAX, passage
    # A long page: what comes back is two windows of it, not the page, however the query is put.
    for query in ("conflict resolver worker threads", "release notes of every Skyloom desktop version"):
        page = next(r for r in site.search(query, limit=10).json()["results"] if "changelog" in r["url"])
        assert page["url"] == f"{site.origin}/releases/changelog.md"
        returned = sum(len(p["snippet"]) for p in page["passages"])
        assert returned <= 2 * SNIPPET_MAX < len(CHANGELOG) / 30
    # Another site's Origin is refused, as for chat.
    refused = site.search("webhooks", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and refused.json()["success"] is False


def test_internal_sources_are_not_searched_through_a_public_key(site: Site) -> None:
    public = site.search("rotate the signing keys")
    assert public.status_code == 200
    assert not any("runbook" in r["url"] or "rotate" in str(r["passages"]) for r in public.json()["results"])
    secret = site.search("rotate the signing keys", key=site.secret)
    assert secret.status_code == 200
    assert any(RUNBOOK[:40] in p["snippet"] for r in secret.json()["results"] for p in r["passages"])


def test_huge_blank_and_malformed_queries_are_refused_cheaply(site: Site) -> None:
    for query, extra in (
        ("x" * 201, {}),
        ("x" * 100_000, {}),
        ("   ", {}),
        ("ok", {"limit": 11}),
        ("ok", {"limit": 0}),
    ):
        start = time.perf_counter()
        resp = site.search(query, **extra)
        assert resp.status_code == 422, (len(query), resp.text[:200])
        assert resp.json()["success"] is False
        assert time.perf_counter() - start < 2
    huge = httpx.post(
        f"{site.docsage.base_url}/api/v1/search",
        content=b'{"query": "' + b"x" * 3_000_000 + b'"}',
        headers={"Authorization": f"Bearer {site.key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert huge.status_code == 413
    no_key = httpx.post(f"{site.docsage.base_url}/api/v1/search", json={"query": "webhooks"}, timeout=30)
    assert no_key.status_code == 401
    feedback_only = site.cli.json(
        "key", "create", "--project", site.project, "--scheme", "bearer", "--scope", "feedback"
    )["key"]
    assert site.search("webhooks", key=feedback_only).status_code == 403  # search needs the chat scope


@pytest.fixture
def limited(site: Site) -> Iterator[LiveServer]:
    """A second server on the same home with small public budgets (a fresh limiter)."""
    with serve(site.home, LIMITED) as server:
        yield server


def test_scraping_is_rate_limited_per_client_and_in_total_apart_from_chat(site: Site, limited: LiveServer) -> None:
    url = f"{limited.base_url}/api/v1/search"
    auth = {"Authorization": f"Bearer {site.key}"}

    def search(n: int, client_ip: str) -> httpx.Response:
        headers = {**auth, "X-Forwarded-For": client_ip}
        return httpx.post(url, json={"query": f"sync page {n}"}, headers=headers, timeout=30)

    statuses = [search(n, "203.0.113.7").status_code for n in range(PER_CLIENT + 3)]
    assert statuses == [200] * PER_CLIENT + [429] * 3, statuses
    refused = search(99, "203.0.113.7")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "search from one client" in refused.json()["error"]

    # The same client may still ask: searching has its own counters.
    chat = httpx.post(
        f"{limited.base_url}/api/v1/chat",
        json={"message": "How do I install the Skyloom CLI?"},
        headers={**auth, "X-Forwarded-For": "203.0.113.7"},
        timeout=60,
    )
    assert chat.status_code == 200, chat.text

    # A scraper rotating addresses runs into the key's total.
    rotating = [search(100 + n, f"198.51.100.{n}").status_code for n in range(TOTAL)]
    assert rotating.count(200) == TOTAL - PER_CLIENT and rotating[-1] == 429, rotating
    assert "public search through this key" in search(200, "198.51.100.250").json()["error"]

    # A server-side key is not on the public budgets (it counts against the team's retrieval budget).
    secret = httpx.post(url, json={"query": "webhooks"}, headers={"Authorization": f"Bearer {site.secret}"}, timeout=30)
    assert secret.status_code == 200, secret.text
