"""The embeddable widget in a real browser (Debian's Chromium driven by Playwright).

One setup for the module: the Skyloom manual ingested through the real CLI, two bearer keys (one allowing
the host pages' origin, one allowing nothing used here), `docsage serve` on 127.0.0.1, and a small static
server on `localhost` (another origin) whose pages embed the widget with a single script tag. A second
static server on another port plays a site that no key allows.
"""

from __future__ import annotations

import gzip
import http.client
import re
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

import fakes.openai_server as fake_openai_module
from conftest import Cli, LiveServer, serve, write_docs
from fakes.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "widget.png"
# Many chats within a minute: the server must not throttle them.
UNLIMITED = {
    "DOCSAGE_RATE_LIMIT_CHAT_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_RETRIEVAL_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN": "0",
    "DOCSAGE_RATE_LIMIT_PUBLIC_CHAT_PER_MIN_TOTAL": "0",
}

QUESTION = "How do I install the Skyloom CLI?"
FOLLOW_UP = "How do I upgrade it?"
LATENCY_QUESTIONS = (
    "How do I install the Skyloom CLI?",
    "How many requests per minute does the Skyloom API allow?",
    "How do I verify webhook signatures?",
)
LATENCY_LIMIT_MS = 2000.0  # asserted; the 300 ms target is reported by the benchmark, not here
WIDGET_GZIP_LIMIT = 30_000
WAIT_MS = 15_000

# A host page that tries hard to restyle everything, including what its rules can reach on the widget's host.
HOSTILE_CSS = """
* { font-size: 40px !important; color: red !important; letter-spacing: 3px !important; }
button { display: none !important; }
body { line-height: 3; text-transform: uppercase; font-family: "Comic Sans MS", cursive; }
"""
CLEAN_CSS = """
body { margin: 0; font-family: Georgia, "Times New Roman", serif; color: #1e293b; background: #f8fafc; }
header { background: #0f172a; color: #f8fafc; padding: 18px 40px; font: 600 20px system-ui, sans-serif; }
header a { color: #cbd5e1; margin-left: 24px; font-size: 15px; text-decoration: none; }
main { max-width: 560px; padding: 16px 40px; line-height: 1.6; }
pre { background: #e2e8f0; padding: 12px; border-radius: 6px; }
"""
ARTICLE = """
<h1>Getting started with Skyloom</h1>
<p>Skyloom keeps your files in sync across every device. Vaults are encrypted on your machine before anything
leaves it, and the daemon resumes interrupted transfers on its own.</p>
<pre>skyloom daemon start</pre>
<p>Questions? Use the help button in the corner: it answers from this manual and links the pages it used.</p>
<p>Every vault has an owner and any number of members. Members can read and write; only the owner can invite
people or delete the vault. Shared vaults are listed on the account page.</p>
"""

# In-page instrumentation: when Enter was pressed, every change of an answer bubble (with the length of the
# text it added) and when the first answer characters were in the DOM and then on screen (the next frame).
INSTRUMENT = """() => {
  const log = document.getElementById('docsage-widget').shadowRoot.querySelector('.log');
  const ds = window.__ds = { enterAt: null, records: [], firstText: null, firstFrame: null, before: 0 };
  ds.reset = () => {
    ds.enterAt = null; ds.records = []; ds.firstText = null; ds.firstFrame = null;
    ds.before = log.querySelectorAll('.msg.bot').length;
  };
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && ds.enterAt === null) ds.enterAt = performance.now();
  }, true);
  const kind = (n) => n instanceof Element
    ? (['sources', 'fb', 'uncertain'].find((c) => n.classList.contains(c)) || 'text') : 'text';
  new MutationObserver((records) => {
    const now = performance.now();
    for (const r of records) {
      if (!(r.target instanceof Element) || !r.target.classList.contains('bot')) continue;
      const added = Array.from(r.addedNodes);
      if (!added.length) continue;
      const k = added.some((n) => kind(n) !== 'text') ? kind(added.find((n) => kind(n) !== 'text')) : 'text';
      ds.records.push({ t: now, kind: k, len: added.map((n) => n.textContent).join('').length });
    }
    const bots = log.querySelectorAll('.msg.bot');
    const last = bots[bots.length - 1];
    if (ds.enterAt !== null && ds.firstText === null && bots.length > ds.before
        && !last.classList.contains('typing') && last.textContent.trim().length > 1) {
      ds.firstText = now;
      requestAnimationFrame(() => setTimeout(() => { ds.firstFrame = performance.now(); }, 0));
    }
  }).observe(log, { childList: true, subtree: true, characterData: true });
}"""


# --- static host pages ------------------------------------------------------------------------------------


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True
    pages: dict[str, bytes]


class _PageHandler(BaseHTTPRequestHandler):
    server: _PageServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = self.server.pages.get(urlsplit(self.path).path)
        if body is None:
            self.send_response(204 if self.path == "/favicon.ico" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        # No charset in the header: the page's own <meta charset> decides, as on many real sites.
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def page_server() -> Iterator[_PageServer]:
    server = _PageServer(("127.0.0.1", 0), _PageHandler)
    server.pages = {}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def host_page(docsage: str, key: str, *, css: str = CLEAN_CSS, charset: str = "utf-8", extra_attrs: str = "") -> bytes:
    """A documentation site's page embedding the widget with its one script tag."""
    script = (
        f'<script src="{docsage}/widget.js" data-key="{key}" data-title="Skyloom help"{extra_attrs} async></script>'
    )
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="{charset}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Skyloom docs</title><style>{css}</style></head>
<body><header>Skyloom docs <a href="#start">Getting started</a><a href="#config">Configuration</a></header>
<main>{ARTICLE}</main>
{script}
</body></html>"""
    return html.encode(charset)


# --- the module's setup ----------------------------------------------------------------------------------


@dataclass
class Site:
    cli: Cli
    docs: Path
    docsage: LiveServer
    key_id: str
    key: str  # bearer key allowing the origin of `site`
    other_key: str  # bearer key allowing only an origin used nowhere here
    site: _PageServer  # http://localhost:<port>: the allowed origin
    foreign: _PageServer  # http://localhost:<other port>: an origin no key allows
    cold_first_text_ms: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.site.server_address[1]}"

    @property
    def foreign_origin(self) -> str:
        return f"http://localhost:{self.foreign.server_address[1]}"

    def url(self, name: str) -> str:
        """The citation URL of one page of the manual."""
        return (self.docs / name).resolve().as_uri()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with closing(self.cli.connect()) as conn:
            return conn.execute(sql, params).fetchall()


def _first_text_ms(base: str, key: str, origin: str) -> float:
    """Time to the first `message` event of a streamed chat, as a plain HTTP client sees it."""
    start = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}", "Origin": origin}
    body = {"message": "What does Skyloom run on?", "stream": True}
    with httpx.stream("POST", f"{base}/api/v1/chat", json=body, headers=headers, timeout=60) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("event: message"):
                return (time.perf_counter() - start) * 1000
    raise AssertionError("the stream had no message event")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("widget")
    cli = Cli(root / "home")
    docs = write_docs(root)
    project = cli.json("project", "create", "--name", "Skyloom docs")
    cli.json("source", "add", "--project", project["id"], "--type", "folder", "--path", docs, "--name", "manual")
    ingest = cli("ingest", "--project", project["id"])
    assert ingest.returncode == 0, ingest.stderr
    with page_server() as allowed, page_server() as foreign:
        origin = f"http://localhost:{allowed.server_address[1]}"
        bearer = ("key", "create", "--project", project["id"], "--scheme", "bearer", "--allowed-origin")
        key = cli.json(*bearer, origin)
        other = cli.json(*bearer, "https://partner.skyloom.example")  # an origin none of these pages has
        with serve(cli.home, UNLIMITED) as docsage:
            s = Site(cli, docs, docsage, key["id"], key["key"], other["key"], allowed, foreign)
            base = docsage.base_url
            s.cold_first_text_ms = _first_text_ms(base, s.key, origin)  # also warms the server up
            allowed.pages.update(
                {
                    "/index.html": host_page(base, s.key),
                    "/hostile.html": host_page(
                        base, s.key, css=HOSTILE_CSS, extra_attrs=' data-welcome="Hi! Ask me about **Skyloom**."'
                    ),
                    "/legacy.html": host_page(base, s.key, charset="windows-1252"),
                    "/wrong-key.html": host_page(base, s.other_key),
                }
            )
            foreign.pages["/index.html"] = host_page(base, s.other_key)
            yield s


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh desktop tab (its own sessionStorage, so its own chat session)."""
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


class Widget:
    """The widget inside one page, through its open shadow root (Playwright's CSS locators pierce it)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.button = page.locator("#docsage-widget .btn")
        self.panel = page.locator("#docsage-widget .panel")
        self.input = page.locator("#docsage-widget textarea")
        self.send = page.locator("#docsage-widget form button")
        self.answers = page.locator("#docsage-widget .msg.bot")
        self.alerts = page.locator("#docsage-widget [role=alert]")
        self.offset = 0  # bubbles shown before the first question (the welcome message)

    def load(self, url: str) -> Widget:
        self.page.goto(url)
        expect(self.button).to_be_visible()
        self.page.evaluate(INSTRUMENT)
        return self

    def open(self) -> None:
        self.button.click()
        expect(self.panel).to_be_visible()
        self.offset = self.answers.count()

    def ask(self, question: str) -> None:
        self.page.evaluate("window.__ds.reset()")
        self.input.fill(question)
        self.input.press("Enter")

    def finished(self, index: int) -> Locator:
        """The answer at `index`, once complete (the feedback buttons come with the `end` event)."""
        answer = self.answers.nth(self.offset + index)
        expect(answer.locator(".fb")).to_be_visible()
        return answer

    def focused(self) -> str | None:
        return self.page.evaluate(
            """() => { const a = document.getElementById('docsage-widget').shadowRoot.activeElement;
                       return a ? (a.className || a.tagName.toLowerCase()) : null; }"""
        )

    def ds(self) -> dict[str, Any]:
        return self.page.evaluate("({...window.__ds, reset: undefined})")


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print(f"\n[widget] {text}")


# --- the script itself -----------------------------------------------------------------------------------


def test_widget_js_is_gzipped_and_small(site: Site) -> None:
    parts = urlsplit(site.docsage.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", "/widget.js", headers={"Accept-Encoding": "gzip, deflate, br"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200
    assert resp.getheader("Content-Encoding") == "gzip"
    assert "javascript" in (resp.getheader("Content-Type") or "")
    assert len(body) <= WIDGET_GZIP_LIMIT, f"widget.js is {len(body)} bytes gzipped"
    source = gzip.decompress(body)
    assert b"attachShadow" in source
    assert int(resp.getheader("Content-Length") or len(body)) == len(body)


# --- the main flow -----------------------------------------------------------------------------------------


def test_ask_stream_code_sources_feedback_and_follow_up(
    site: Site, page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    widget = Widget(page).load(f"{site.origin}/hostile.html")
    # The host page hides every <button> and blows up all text: none of it reaches the shadow DOM.
    box = widget.button.bounding_box()
    assert box is not None
    assert 50 <= box["width"] <= 62
    assert 50 <= box["height"] <= 62
    widget.open()
    expect(widget.button).to_have_attribute("aria-expanded", "true")
    assert widget.focused() == "textarea"

    widget.ask(QUESTION)
    answer = widget.finished(0)
    expect(widget.alerts).to_have_count(0)

    # Streamed: the bubble was re-rendered with growing text, message by message, before the sources came.
    ds = widget.ds()
    kinds = [r["kind"] for r in ds["records"]]
    texts = [r for r in ds["records"] if r["kind"] == "text"]
    assert len(texts) >= 3, ds["records"]
    assert texts[0]["len"] < texts[-1]["len"]
    assert len({r["len"] for r in texts}) >= 3
    assert "sources" in kinds
    assert kinds.index("sources") > max(i for i, k in enumerate(kinds) if k == "text")
    assert ds["firstText"] is not None
    assert ds["enterAt"] <= ds["firstText"] <= texts[-1]["t"]
    report(capsys, f"first question: first text {ds['firstText'] - ds['enterAt']:.0f} ms after Enter")

    # The quoted commands are a real code block, not markdown fences.
    code = answer.locator("pre > code")
    expect(code.first).to_contain_text("pip install skyloom-cli")
    assert "```" not in answer.inner_text()

    # A numbered list of sources; the first is the install page, all are pages of the manual.
    sources = answer.locator(".sources")
    expect(sources.locator("strong")).to_have_text("Sources")
    links = sources.locator("ol > li > a")
    hrefs = [a.get_attribute("href") for a in links.all()]
    assert hrefs, "no sources listed"
    assert hrefs[0] == site.url("install.md")
    doc_urls = {site.url(p.name) for p in site.docs.iterdir()}
    assert set(hrefs) <= doc_urls, hrefs
    expect(links.first).to_have_text("Installing Skyloom")
    expect(links.first).to_have_attribute("target", "_blank")

    # Thumbs up: the feedback is stored as an upvote of this answer.
    with page.expect_request(lambda r: r.url.endswith("/api/v1/feedback") and r.method == "POST") as sent:
        answer.get_by_role("button", name="Helpful", exact=True).click()
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(answer.get_by_role("button", name="Not helpful")).to_have_attribute("aria-pressed", "false")
    message_id = sent.value.post_data_json["question_answer_id"]
    assert site.rows("SELECT reaction FROM feedback WHERE question_answer_id = ?", message_id) == [("upvote",)]

    # A follow-up continues the same session: both turns are in one thread.
    widget.ask(FOLLOW_UP)
    follow_up = widget.finished(1)
    expect(follow_up).to_contain_text("pip install --upgrade skyloom-cli")
    (thread_id,) = site.rows("SELECT thread_id FROM question_answers WHERE id = ?", message_id)[0]
    questions = site.rows("SELECT question FROM question_answers WHERE thread_id = ? ORDER BY created_at", thread_id)
    assert [q for (q,) in questions] == [QUESTION, FOLLOW_UP]
    expect(widget.alerts).to_have_count(0)


def test_citation_numbers_match_the_sources_list(site: Site, page: Page) -> None:
    """An inline [n] and entry n of the numbered Sources list below it must be the same page."""
    widget = Widget(page).load(f"{site.origin}/index.html")
    widget.open()
    widget.ask(QUESTION)
    answer = widget.finished(0)
    listed = [a.get_attribute("href") for a in answer.locator(".sources ol > li > a").all()]
    cites = [(a.inner_text(), a.get_attribute("href")) for a in answer.locator("a.cite").all()]
    assert cites, "the answer has no citations"
    for label, href in cites:
        n = int(label.strip("[]"))
        assert n <= len(listed), f"citation {label} has no entry in the Sources list {listed}"
        assert listed[n - 1] == href, f"citation {label} links {href} but Sources entry {n} is {listed[n - 1]}"


# --- isolation from the host page --------------------------------------------------------------------------


def test_host_page_css_does_not_reach_the_widget(site: Site, page: Page) -> None:
    widget = Widget(page).load(f"{site.origin}/hostile.html")
    style = "(el, p) => getComputedStyle(el).getPropertyValue(p)"
    assert widget.button.evaluate(style, "display") != "none"
    assert widget.button.evaluate(style, "font-size") == "24px"
    widget.open()
    welcome = widget.answers.first.locator("p")
    expect(welcome).to_have_text("Hi! Ask me about Skyloom.")
    expect(welcome.locator("strong")).to_have_text("Skyloom")
    expect(widget.send).to_be_visible()
    assert widget.send.evaluate(style, "display") != "none"
    for element in (welcome, widget.input):
        assert element.evaluate(style, "font-size") == "14px"
        assert element.evaluate(style, "color") == "rgb(17, 24, 39)"
    assert page.locator("#docsage-widget header span").evaluate(style, "color") == "rgb(255, 255, 255)"
    # Inherited properties the host forces onto the widget's host element must not leak into its text.
    for element in (welcome, widget.input):
        assert element.evaluate(style, "letter-spacing") == "normal", "host page letter-spacing leaks in"
        assert element.evaluate(style, "text-transform") == "none"


def test_widget_text_is_intact_on_a_non_utf8_host_page(site: Site, page: Page) -> None:
    """Pages still served as windows-1252 (or Shift_JIS…) must not garble the widget's own characters."""
    widget = Widget(page).load(f"{site.origin}/legacy.html")
    widget.open()
    expect(widget.button).to_have_text("×")
    expect(widget.input).to_have_attribute("placeholder", "Ask a question…")
    widget.ask(QUESTION)
    answer = widget.finished(0)
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_text("👍")
    expect(answer.get_by_role("button", name="Not helpful")).to_have_text("👎")


# --- keyboard -----------------------------------------------------------------------------------------------


def test_keyboard_tab_enter_opens_and_escape_closes(site: Site, page: Page) -> None:
    widget = Widget(page).load(f"{site.origin}/index.html")
    for _ in range(12):
        page.keyboard.press("Tab")
        if widget.focused() == "btn":
            break
    assert widget.focused() == "btn", "the chat button cannot be reached with Tab"
    assert widget.button.evaluate("el => getComputedStyle(el).outlineStyle") == "solid", "no visible focus ring"

    page.keyboard.press("Enter")
    expect(widget.panel).to_be_visible()
    expect(widget.button).to_have_attribute("aria-expanded", "true")
    assert widget.focused() == "textarea"

    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    widget.finished(0)
    assert widget.focused() == "textarea"

    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    expect(widget.button).to_have_attribute("aria-expanded", "false")
    assert widget.focused() == "btn"


# --- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["origin-no-key-allows", "key-does-not-allow-origin"])
def test_disallowed_origin_shows_an_error_and_no_answer(site: Site, page: Page, case: str) -> None:
    if case == "origin-no-key-allows":  # the preflight itself is refused
        url, origin = f"{site.foreign_origin}/index.html", site.foreign_origin
    else:  # the preflight passes (another key allows the origin); the chat request is refused with a reason
        url, origin = f"{site.origin}/wrong-key.html", site.origin
    widget = Widget(page).load(url)
    widget.open()
    widget.ask(QUESTION)
    alert = widget.alerts.first
    expect(alert).to_be_visible()
    text = alert.inner_text()
    assert re.search(r"not allowed|network error", text, re.IGNORECASE), (
        f"the error shown on {origin} explains neither the origin nor the network: {text!r}"
    )
    expect(widget.answers).to_have_count(0)
    expect(page.locator("#docsage-widget .sources")).to_have_count(0)
    expect(widget.send).to_be_enabled()


# --- mobile ------------------------------------------------------------------------------------------------------


def test_open_panel_fits_a_phone_screen(site: Site, browser: Browser) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 700}, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        widget = Widget(page).load(f"{site.origin}/index.html")
        widget.button.tap()
        expect(widget.panel).to_be_visible()
        width, height = page.evaluate("[innerWidth, innerHeight]")
        assert (width, height) == (375, 700)

        def inside(locator: Locator) -> None:
            box = locator.bounding_box()
            assert box is not None
            assert box["x"] >= -0.5 and box["y"] >= -0.5, box
            assert box["x"] + box["width"] <= width + 0.5, box
            assert box["y"] + box["height"] <= height + 0.5, box

        inside(widget.panel)
        inside(widget.input)
        inside(widget.send)
        inside(page.get_by_role("button", name="Close chat"))

        widget.ask(QUESTION)
        answer = widget.finished(0)
        inside(widget.panel)
        panel = widget.panel.bounding_box()
        bubble = answer.bounding_box()
        assert panel is not None and bubble is not None
        assert bubble["x"] + bubble["width"] <= panel["x"] + panel["width"] + 0.5
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        page.get_by_role("button", name="Close chat").tap()
        expect(widget.panel).to_be_hidden()
    finally:
        context.close()


# --- speed --------------------------------------------------------------------------------------------------------


def test_time_to_first_answer_characters(
    site: Site, page: Page, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    widget = Widget(page).load(f"{site.origin}/index.html")
    widget.open()
    measured = []
    for i, question in enumerate(LATENCY_QUESTIONS):
        widget.page.evaluate("window.__ds.reset()")
        widget.input.fill(question)
        start = time.perf_counter()
        widget.input.press("Enter")
        page.wait_for_function("window.__ds.firstFrame !== null", timeout=WAIT_MS)
        wall_ms = (time.perf_counter() - start) * 1000
        ds = widget.ds()
        in_dom = ds["firstText"] - ds["enterAt"]
        on_screen = ds["firstFrame"] - ds["enterAt"]
        measured.append({"question": question, "dom_ms": in_dom, "frame_ms": on_screen, "wall_ms": wall_ms})
        widget.finished(i)
    record_property("time_to_first_text", measured)
    for m in measured:
        report(
            capsys,
            f"Enter -> first answer characters: {m['dom_ms']:.0f} ms in DOM, {m['frame_ms']:.0f} ms next frame, "
            f"{m['wall_ms']:.0f} ms seen by the test ({m['question']!r})",
        )
    report(capsys, f"cold server, plain HTTP client: first message event after {site.cold_first_text_ms:.0f} ms")
    for m in measured:
        assert m["frame_ms"] < LATENCY_LIMIT_MS, m
        assert m["wall_ms"] < LATENCY_LIMIT_MS, m


# --- streaming from a slow model ---------------------------------------------------------------------------------

SLOW_REPLY = (
    "Install the Skyloom CLI with pip inside a virtual environment [1]:\n\n"
    "```bash\npython -m venv .venv\n. .venv/bin/activate\npip install skyloom-cli\n```\n\n"
    "Then check it with `skyloom --version` [1]."
)
SLOW_CHUNK_SECONDS = 0.06


@pytest.fixture(scope="module")
def slow_docsage(site: Site) -> Iterator[str]:
    """A second server on the same home, answering through a model that sends one word every 60 ms."""
    plain_chunks = fake_openai_module._stream_chunks

    def slow_chunks(*args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for chunk in plain_chunks(*args, **kwargs):
            time.sleep(SLOW_CHUNK_SECONDS)
            yield chunk

    with pytest.MonkeyPatch.context() as mp, FakeOpenAI(reply_text=SLOW_REPLY) as fake:
        mp.setattr(fake_openai_module, "_stream_chunks", slow_chunks)
        env = {
            **UNLIMITED,
            "DOCSAGE_LLM_PROVIDER": "openai",
            "DOCSAGE_LLM_BASE_URL": fake.base_url,
            "DOCSAGE_LLM_API_KEY": "x",
            "DOCSAGE_LLM_MODEL": "fake-model",
        }
        with serve(site.cli.home, env) as server:
            site.timings["slow_cold_first_text_ms"] = _first_text_ms(server.base_url, site.key, site.origin)
            site.site.pages["/slow.html"] = host_page(server.base_url, site.key)
            yield server.base_url


def test_answer_text_grows_while_the_model_streams(
    site: Site, slow_docsage: str, page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    widget = Widget(page).load(f"{site.origin}/slow.html")
    widget.open()
    widget.ask(QUESTION)
    probe = """() => {
      const bots = document.getElementById('docsage-widget').shadowRoot.querySelectorAll('.msg.bot');
      const el = bots[bots.length - 1];
      if (!el || el.classList.contains('typing')) return [0, false];
      const done = !!el.querySelector('.fb');
      const body = Array.from(el.childNodes).filter((n) => !(n instanceof Element && n.matches('.sources, .fb')));
      return [body.map((n) => n.textContent).join('').length, done];
    }"""
    samples: list[tuple[float, int]] = []
    start = time.perf_counter()
    while True:
        length, done = page.evaluate(probe)
        now = time.perf_counter() - start
        if done:
            finished_at = now
            break
        if length:
            samples.append((now, length))
        assert now < WAIT_MS / 1000, "the answer never finished"
        time.sleep(0.02)
    lengths = [n for _, n in samples]
    cold = site.timings["slow_cold_first_text_ms"]
    report(
        capsys,
        f"slow model ({SLOW_CHUNK_SECONDS * 1000:.0f} ms a word): {len(set(lengths))} distinct partial lengths, "
        f"first text {samples[0][0] * 1000:.0f} ms after Enter, complete at {finished_at * 1000:.0f} ms "
        f"(cold server, plain HTTP client: first message event after {cold:.0f} ms)"
        if samples
        else "slow model: no partial text seen",
    )
    assert len(set(lengths)) >= 3, f"the text did not grow progressively: {samples}"
    assert lengths[0] < lengths[-1]
    assert finished_at - samples[0][0] >= 0.3
    answer = widget.finished(0)
    expect(answer.locator("pre > code")).to_contain_text("pip install skyloom-cli")
    expect(answer.locator(".sources ol > li > a").first).to_have_attribute("href", site.url("install.md"))


# --- the screenshot in the docs -------------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_screenshot_of_an_answer_for_the_docs(site: Site, page: Page) -> None:
    widget = Widget(page).load(f"{site.origin}/index.html")
    widget.open()
    widget.ask(QUESTION)
    answer = widget.finished(0)
    expect(answer.locator(".sources")).to_be_visible()
    widget.input.blur()
    page.mouse.move(0, 0)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert png_size(SCREENSHOT) == (1100, 760)
    assert SCREENSHOT.stat().st_size < 400_000


# --- links -------------------------------------------------------------------------------------------------------

# Many docs sites address pages with a query string; `&` in a cited URL must reach the href unchanged.
LINK_URL_TEMPLATE = "https://docs.skyloom.example/view?page={path}&lang=en"
INSTALL_LINK = LINK_URL_TEMPLATE.format(path="install.md")
# A host page's welcome text goes through the same markdown renderer as answers.
LINKS_WELCOME = (
    "Read [the guide](https://docs.skyloom.example/view?page=a&b=1&amp;c=2), "
    "not [this](javascript:alert(document.domain)) or "
    '[that](https://docs.skyloom.example/"onmouseover="alert(1))'
)


@pytest.fixture(scope="module")
def link_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The manual ingested with LINK_URL_TEMPLATE, its own server, and a host page with LINKS_WELCOME: its URL."""
    root = tmp_path_factory.mktemp("widget-links")
    cli = Cli(root / "home")
    docs = write_docs(root)
    project = cli.json("project", "create", "--name", "Skyloom docs")
    cli.json(
        "source", "add", "--project", project["id"], "--type", "folder", "--path", docs, "--name", "manual",
        "--url-template", LINK_URL_TEMPLATE,
    )  # fmt: skip
    ingest = cli("ingest", "--project", project["id"])
    assert ingest.returncode == 0, ingest.stderr
    with page_server() as pages:
        origin = f"http://localhost:{pages.server_address[1]}"
        key = cli.json("key", "create", "--project", project["id"], "--scheme", "bearer", "--allowed-origin", origin)
        with serve(cli.home, UNLIMITED) as docsage:
            welcome = LINKS_WELCOME.replace("&", "&amp;").replace('"', "&quot;")
            pages.pages["/index.html"] = host_page(
                docsage.base_url, key["key"], extra_attrs=f' data-welcome="{welcome}"'
            )
            yield f"{origin}/index.html"


def test_a_cited_url_with_a_query_string_is_linked_exactly(link_site: str, page: Page) -> None:
    widget = Widget(page).load(link_site)
    widget.open()
    widget.ask(QUESTION)
    answer = widget.finished(0)
    cites = answer.locator("a.cite")
    expect(cites.first).to_be_visible()
    hrefs = {a.get_attribute("href") for a in cites.all()}
    assert INSTALL_LINK in hrefs, hrefs
    assert all(href and "&amp;" not in href and href.endswith("&lang=en") for href in hrefs), hrefs
    # What a click opens: the browser's resolved URL, query string intact.
    assert cites.first.evaluate("a => a.href").endswith("&lang=en")
    expect(answer.locator(".sources ol > li > a").first).to_have_attribute("href", INSTALL_LINK)


def test_links_are_escaped_once_and_unsafe_schemes_are_not_linked(link_site: str, page: Page) -> None:
    widget = Widget(page).load(link_site)
    widget.open()
    links = widget.answers.first.locator("a")
    expect(links).to_have_count(3)
    guide, script, quoted = links.all()
    # The welcome has a literal "&amp;" after "b=1": it stays literal; every "&" is escaped once.
    assert guide.get_attribute("href") == "https://docs.skyloom.example/view?page=a&b=1&amp;c=2"
    assert script.get_attribute("href") == "#"
    assert quoted.get_attribute("href") == 'https://docs.skyloom.example/"onmouseover="alert(1'
    assert quoted.get_attribute("onmouseover") is None
