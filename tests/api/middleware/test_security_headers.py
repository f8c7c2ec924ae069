"""Security headers through a real `docsage serve`: the dashboard in Chromium under its Content-Security-Policy
(every page, analytics with Chart.js, with no violation reported), the headers on HTML pages, the JSON API and
the widget script unchanged, and the widget on the start page of `docsage demo` still answering.

Violations are collected twice: Chromium's console messages, and `securitypolicyviolation` events recorded by
an init script (which the page's policy does not govern).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import Cli, LiveServer, serve, write_docs

ADMIN, PASSWORD = "admin", "correct horse battery"
UNLIMITED = {"DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0", "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0"}
QUESTIONS = ("How do I install the Skyloom CLI?", "What is the best pizza topping?")
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${where})`);
});
"""


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        if part.strip():
            name, *values = part.split()
            parsed[name] = values
    return parsed


@dataclass
class Setup:
    cli: Cli
    server: LiveServer
    project: str
    kapa_key: str

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The Skyloom manual ingested, an X-API-KEY key, an admin account, and two questions asked through it."""
    root = tmp_path_factory.mktemp("headers")
    home = root / "home"
    home.mkdir()
    docs = write_docs(root)
    cli = Cli(home)
    project = cli.json("project", "create", "--name", "Skyloom")["id"]

    def add_and_ingest() -> None:
        cli.json("source", "add", "--project", project, "--type", "folder", "--path", docs, "--name", "manual")
        assert cli("ingest", "--project", project).returncode == 0

    with ThreadPoolExecutor(max_workers=3) as pool:
        ingest = pool.submit(add_and_ingest)
        key = pool.submit(cli.json, "key", "create", "--project", project)
        user = pool.submit(cli, "admin", "create-user", "--username", ADMIN, "--password", PASSWORD)
        ingest.result()
        assert user.result().returncode == 0
        kapa_key = key.result()["key"]
    with serve(home, UNLIMITED) as server:
        for question in QUESTIONS:
            resp = httpx.post(
                f"{server.base_url}/query/v1/projects/{project}/chat/",
                json={"query": question, "user": {"email": "reader@example.com"}},
                headers={"X-API-KEY": kapa_key},
                timeout=60,
            )
            assert resp.status_code == 200, resp.text
        yield Setup(cli, server, project, kapa_key)


class Watched:
    """A page whose CSP reports (console and events) and uncaught errors are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _console(self, msg: Any) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.console.append(msg.text)

    def visit(self, path: str) -> dict[str, str]:
        """Open a page; return its response headers after checking that no violation was reported."""
        response = self.page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        self.assert_clean(path)
        return response.all_headers()

    def assert_clean(self, where: str) -> None:
        events = self.page.evaluate("() => window.__cspViolations || []")
        assert (self.console, events, self.errors) == ([], [], []), f"on {where}"


@pytest.fixture
def watched(browser: Browser, setup: Setup) -> Iterator[Watched]:
    context = browser.new_context(base_url=setup.base_url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    yield Watched(context.new_page())
    context.close()


def assert_admin_policy(headers: dict[str, str], where: str) -> None:
    policy = directives(headers.get("content-security-policy", ""))
    assert policy.get("script-src") == ["'self'"], f"{where}: script-src must allow no inline script: {policy}"
    assert policy.get("frame-ancestors") == ["'none'"], f"{where}: {policy}"
    assert policy.get("object-src") == ["'none'"] and policy.get("base-uri") == ["'none'"], f"{where}: {policy}"
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "same-origin", where
    assert headers.get("cache-control") == "no-store", where


CHARTS = """() => ["questions", "uncertain", "votes", "users", "models"].map(id => {
  const chart = window.Chart && Chart.getChart(document.getElementById(id));
  return chart ? chart.data.datasets.map(d => d.data.reduce((a, b) => a + (b || 0), 0)) : null;
})"""


def test_every_dashboard_page_runs_under_its_csp(watched: Watched, setup: Setup) -> None:
    page = watched.page
    assert_admin_policy(watched.visit("/admin/login"), "/admin/login")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert urlparse(page.url).path == "/admin"
    watched.assert_clean("/admin after login")

    project = f"/admin/projects/{setup.project}"
    for path in ("/admin", project, f"{project}/keys", f"{project}/integrations", f"{project}/conversations"):
        assert_admin_policy(watched.visit(path), path)

    # The page that shows a new key's secret: never stored by the browser or a proxy.
    page.goto(f"{project}/keys")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Create key"))
    form.get_by_label("Name").fill("csp-check")
    with page.expect_response(lambda r: "reveal=" in r.url) as revealed:
        form.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-key")).to_be_visible()
    assert_admin_policy(revealed.value.all_headers(), "the keys page showing a new secret")
    watched.assert_clean("the keys page showing a new secret")

    assert_admin_policy(watched.visit(f"{project}/analytics"), "analytics")
    expect(page.get_by_test_id("total-questions")).to_have_text(str(len(QUESTIONS)))
    sums = page.evaluate(CHARTS)
    assert sums[0] == [len(QUESTIONS), 1], f"charts drawn (dataset sums, None = no chart): {sums}"
    assert all(s is not None for s in sums), sums
    # The period menu reloads the page on change (a listener in the script file, not an inline handler).
    with page.expect_navigation():
        page.get_by_label("Last").select_option("7")
    assert urlparse(page.url).query == "days=7"
    expect(page.get_by_test_id("total-questions")).to_have_text(str(len(QUESTIONS)))
    assert all(s is not None for s in page.evaluate(CHARTS))
    watched.assert_clean("analytics, 7 days")


def test_headers_of_pages_scripts_and_the_json_api(setup: Setup) -> None:
    with httpx.Client(base_url=setup.base_url, timeout=60) as client:
        home = client.get("/")
        assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
        policy = directives(home.headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"], policy
        assert "frame-ancestors" not in policy, "the start page hosts the widget; its framing is not restricted"
        assert home.headers["x-content-type-options"] == "nosniff"
        assert home.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "x-frame-options" not in home.headers

        for path in ("/docs", "/redoc"):
            docs = client.get(path)
            assert docs.status_code == 200
            assert "frame-ancestors 'none'" in docs.headers["content-security-policy"], path

        # Scripts keep their own caching and type; nothing stops a third-party page from loading the widget.
        widget = client.get("/widget.js", headers={"Origin": "https://docs.example.com"})
        assert widget.status_code == 200
        assert widget.headers["content-type"].startswith("application/javascript")
        assert widget.headers["x-content-type-options"] == "nosniff"
        assert widget.headers["cache-control"] == "public, max-age=300"
        assert "content-security-policy" not in widget.headers
        assert "cross-origin-resource-policy" not in widget.headers
        for path in ("/admin/static/chart.js", "/admin/static/analytics.js"):
            script = client.get(path)
            assert script.status_code == 200 and script.headers["content-type"].startswith("application/javascript")
            assert script.headers["cache-control"].startswith("public"), path

        # The JSON API answers as before, with nosniff and no page policy.
        retrieval = client.post(
            f"/query/v1/projects/{setup.project}/retrieval/",
            json={"query": "How do I install the CLI?"},
            headers={"X-API-KEY": setup.kapa_key},
        )
        assert retrieval.status_code == 200 and retrieval.json(), retrieval.text
        assert retrieval.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in retrieval.headers
        with client.stream(
            "POST",
            f"/query/v1/projects/{setup.project}/chat/stream/",
            json={"query": "How do I upgrade Skyloom?"},
            headers={"X-API-KEY": setup.kapa_key},
        ) as stream:
            assert stream.status_code == 200
            body = "".join(stream.iter_text())
        assert "skyloom" in body.lower(), body[:500]
        assert client.get("/healthz").json()["status"] == "ok"


def test_the_widget_on_the_demo_start_page_answers_under_the_csp(
    browser: Browser, run_cli: Cli, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path)
    with serve(run_cli.home, command=["demo", "--docs", docs]) as server:
        context = browser.new_context(base_url=server.base_url)
        context.set_default_timeout(15_000)
        try:
            watched = Watched(context.new_page())
            headers = watched.visit("/")
            assert directives(headers["content-security-policy"])["script-src"] == ["'self'"]
            page = watched.page
            page.locator("#docsage-widget .btn").click()
            page.locator("#docsage-widget textarea").fill("How do I verify webhook signatures?")
            page.locator("#docsage-widget form button").click()
            answer = page.locator("#docsage-widget .msg.bot").last
            expect(answer.locator(".fb")).to_be_visible()
            expect(answer).to_contain_text("X-Skyloom-Signature")
            link = answer.locator(".sources a").first
            href = link.get_attribute("href") or ""
            assert re.fullmatch(rf"{re.escape(server.base_url)}/demo/docs/\S+", href), href
            watched.assert_clean("the demo start page after an answer")
            cited = watched.visit(urlparse(href).path)
            assert "frame-ancestors" not in cited.get("content-security-policy", "")
        finally:
            context.close()
